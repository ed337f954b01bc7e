// Trace replay against Router.Generate (see serve_runner.h). One thread per concurrency slot:
// each claims the next request in arrival order, waits for its arrival time, and reads its
// stream to the end, so requests start in order and never more than `concurrency` at once.
#include "tests/bench/pdbench/serve_runner.h"

#include <atomic>
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "pdserve/inference/v1/inference.grpc.pb.h"

namespace pdserve::bench {
namespace {

namespace inf = ::pdserve::inference::v1;

StreamOutcome RunOne(inf::Router::Stub& stub, const ScaledRequest& request, uint64_t seed,
                     const ServeOptions& options) {
  inf::GenerateRequest message;
  message.set_model(options.model);
  for (int32_t id : request.prompt) message.add_prompt_token_ids(id);
  message.mutable_sampling()->set_temperature(0);
  message.mutable_sampling()->set_seed(seed);
  message.mutable_limits()->set_max_new_tokens(request.output_tokens);
  message.mutable_limits()->set_ignore_eos(true);

  StreamOutcome out;
  out.prompt_tokens = request.prompt.size();
  out.expected_output = request.output_tokens;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options.timeout));
  const absl::Time sent = absl::Now();
  std::unique_ptr<grpc::ClientReader<inf::GenerateResponse>> reader =
      stub.Generate(&context, message);
  inf::GenerateResponse response;
  while (reader->Read(&response)) {
    if (response.token_ids_size() > 0 && out.ttft_ns < 0) {
      out.ttft_ns = absl::ToInt64Nanoseconds(absl::Now() - sent);
    }
    out.output_tokens += response.token_ids_size();
    if (options.keep_tokens) {
      out.tokens.insert(out.tokens.end(), response.token_ids().begin(),
                        response.token_ids().end());
    }
    if (response.has_usage()) {
      out.has_usage = true;
      out.reused_tokens = response.usage().reused_tokens();
    }
  }
  const grpc::Status status = reader->Finish();
  out.retry_hint = context.GetServerTrailingMetadata().count("grpc-retry-pushback-ms") > 0;
  out.e2e_ns = absl::ToInt64Nanoseconds(absl::Now() - sent);
  out.code = status.error_code();
  out.message = status.error_message();
  return out;
}

}  // namespace

absl::StatusOr<ServeRunResult> RunServe(const std::vector<ScaledRequest>& requests,
                                        const std::vector<absl::Duration>& arrivals,
                                        const ServeOptions& options) {
  if (requests.size() != arrivals.size()) {
    return absl::InvalidArgumentError("serve: one arrival time per request is required");
  }
  if (options.concurrency < 1) {
    return absl::InvalidArgumentError("--concurrency must be >= 1");
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  auto channel =
      grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
  auto stub = inf::Router::NewStub(channel);

  ServeRunResult result;
  result.outcomes.resize(requests.size());
  std::atomic<size_t> next{0};
  std::atomic<int64_t> finished{0};
  std::atomic<int64_t> failed{0};
  const absl::Time start = absl::Now();
  std::vector<char> sent(requests.size(), 0);  // each index written by one worker only
  std::vector<std::thread> workers;
  for (int w = 0; w < options.concurrency; ++w) {
    workers.emplace_back([&] {
      for (size_t i = next.fetch_add(1); i < requests.size(); i = next.fetch_add(1)) {
        // Pacing to the arrival schedule, not waiting for an event.
        if (arrivals[i] > options.duration) break;
        const absl::Time due = start + arrivals[i];
        const absl::Time now = absl::Now();
        if (due > now) absl::SleepFor(due - now);
        const int64_t late_ns = absl::ToInt64Nanoseconds(absl::Now() - due);
        if (absl::Now() - start > options.duration) break;
        sent[i] = 1;
        StreamOutcome outcome = RunOne(*stub, requests[i], i, options);
        outcome.queue_delay_ns = late_ns > 0 ? late_ns : 0;
        outcome.index = static_cast<int64_t>(i);
        if (outcome.code != 0) failed.fetch_add(1);
        result.outcomes[i] = std::move(outcome);
        finished.fetch_add(1);
      }
    });
  }
  absl::Notification all_done;
  std::thread joiner([&workers, &all_done] {
    for (std::thread& w : workers) w.join();
    all_done.Notify();
  });
  const int64_t total = requests.size();
  while (!all_done.WaitForNotificationWithTimeout(absl::Milliseconds(200))) {
    if (options.progress) options.progress(finished.load(), failed.load(), total);
  }
  joiner.join();
  if (options.progress) options.progress(finished.load(), failed.load(), total);
  result.duration_ns = absl::ToInt64Nanoseconds(absl::Now() - start);
  // With a duration, keep only the requests actually sent.
  std::vector<StreamOutcome> kept;
  for (size_t i = 0; i < sent.size(); ++i) {
    if (sent[i]) kept.push_back(std::move(result.outcomes[i]));
  }
  result.outcomes = std::move(kept);
  return result;
}

}  // namespace pdserve::bench
