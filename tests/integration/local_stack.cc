// Starts pdserve processes on loopback ports for integration tests.
#include "tests/integration/local_stack.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tests/integration/grpc_probe.h"

namespace pdserve::testing {
namespace {

std::shared_ptr<grpc::Channel> ChannelTo(const Process& p) {
  return grpc::CreateChannel(p.address(), grpc::InsecureChannelCredentials());
}

}  // namespace

std::chrono::system_clock::time_point Deadline(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

absl::StatusOr<std::unique_ptr<LocalStack>> LocalStack::Start(const StackOptions& options) {
  auto stack = std::unique_ptr<LocalStack>(new LocalStack());
  auto with_common = [&options](std::vector<std::string> args) {
    args.insert(args.end(), options.common_flags.begin(), options.common_flags.end());
    return args;
  };
  auto cache = Process::StartServer(
      BinaryPath("kv_cache_manager"),
      with_common({"--address=127.0.0.1:0", "--capacity=" + options.capacity}));
  if (!cache.ok()) return cache.status();
  stack->cache_ = *std::move(cache);
  const std::string cache_flag = "--cache_manager=" + stack->cache_->address();
  const std::string model_flag = "--model=" + options.model;

  auto prefill = Process::StartServer(BinaryPath("prefill_server"),
                                      with_common({"--address=127.0.0.1:0", cache_flag, model_flag}));
  if (!prefill.ok()) return prefill.status();
  stack->prefill_ = *std::move(prefill);
  std::vector<std::string> decode_addresses;
  for (int i = 0; i < options.decode_servers; ++i) {
    std::vector<std::string> args = {"--address=127.0.0.1:0", cache_flag, model_flag};
    args.insert(args.end(), options.decode_flags.begin(), options.decode_flags.end());
    auto decode = Process::StartServer(BinaryPath("decode_server"), with_common(args));
    if (!decode.ok()) return decode.status();
    decode_addresses.push_back((*decode)->address());
    stack->decodes_.push_back(*std::move(decode));
  }
  if (absl::Status s = WaitServing(stack->prefill_->address(), "", absl::Seconds(30)); !s.ok()) {
    return s;
  }
  for (auto& d : stack->decodes_) {
    if (absl::Status s = WaitServing(d->address(), "", absl::Seconds(30)); !s.ok()) return s;
  }
  if (options.router) {
    std::vector<std::string> args = {"--address=127.0.0.1:0", cache_flag, model_flag,
                                     "--prefill=" + stack->prefill_->address(),
                                     "--decode=" + absl::StrJoin(decode_addresses, ",")};
    args.insert(args.end(), options.router_flags.begin(), options.router_flags.end());
    auto router = Process::StartServer(BinaryPath("router_server"), with_common(args));
    if (!router.ok()) return router.status();
    stack->router_ = *std::move(router);
    if (absl::Status s = WaitServing(stack->router_->address(), "", absl::Seconds(30)); !s.ok()) {
      return s;
    }
  }
  return stack;
}

std::unique_ptr<pdserve::kvcache::v1::KvCache::Stub> LocalStack::CacheStub() {
  return pdserve::kvcache::v1::KvCache::NewStub(ChannelTo(*cache_));
}
std::unique_ptr<pdserve::inference::v1::Prefill::Stub> LocalStack::PrefillStub() {
  return pdserve::inference::v1::Prefill::NewStub(ChannelTo(*prefill_));
}
std::unique_ptr<pdserve::inference::v1::Decode::Stub> LocalStack::DecodeStub(int i) {
  return pdserve::inference::v1::Decode::NewStub(ChannelTo(*decodes_[i]));
}
std::unique_ptr<pdserve::inference::v1::Router::Stub> LocalStack::RouterStub() {
  return pdserve::inference::v1::Router::NewStub(ChannelTo(*router_));
}

absl::StatusOr<pdserve::kvcache::v1::GetStatsResponse> LocalStack::CacheStats() {
  pdserve::kvcache::v1::GetStatsResponse stats;
  grpc::ClientContext context;
  context.set_deadline(Deadline(10));
  grpc::Status status =
      CacheStub()->GetStats(&context, pdserve::kvcache::v1::GetStatsRequest(), &stats);
  if (!status.ok()) return absl::UnavailableError("GetStats: " + status.error_message());
  return stats;
}

absl::StatusOr<pdserve::kvcache::v1::GetStatsResponse> LocalStack::WaitUntilReleased(
    const pdserve::kvcache::v1::GetStatsResponse& before, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<pdserve::kvcache::v1::GetStatsResponse> stats = CacheStats();
    if (!stats.ok()) return stats;
    const bool released = stats->sequences() == before.sequences() &&
                          stats->blocks_partial() == before.blocks_partial();
    if (released || absl::Now() >= deadline) return stats;
    absl::SleepFor(absl::Milliseconds(20));
  }
}

DecodeRun RunDecode(pdserve::inference::v1::Decode::Stub* stub,
                    const pdserve::inference::v1::DecodeRequest& request) {
  DecodeRun run;
  grpc::ClientContext context;
  context.set_deadline(Deadline(60));
  auto reader = stub->Decode(&context, request);
  pdserve::inference::v1::DecodeResponse message;
  while (reader->Read(&message)) {
    run.tokens.push_back(message.token_id());
    run.last = message;
  }
  run.status = reader->Finish();
  return run;
}

GenerateRun RunGenerate(pdserve::inference::v1::Router::Stub* stub,
                        const pdserve::inference::v1::GenerateRequest& request) {
  GenerateRun run;
  grpc::ClientContext context;
  context.set_deadline(Deadline(60));
  auto reader = stub->Generate(&context, request);
  pdserve::inference::v1::GenerateResponse message;
  while (reader->Read(&message)) {
    run.tokens.insert(run.tokens.end(), message.token_ids().begin(), message.token_ids().end());
  }
  run.status = reader->Finish();
  return run;
}

}  // namespace pdserve::testing
