// End-to-end serving benchmark on synthetic:bench: decode through the router against the
// in-process path, --kv_fetch=delta against full, aggregate tokens/s at 1/8/32 streams, and TTFT
// cold against a fully cached prefix. Starts its own processes on loopback; prints JSON.
//
// Usage: serving_bench [--model=synthetic:bench] [--new_tokens=32] [--quick] [--rounds=3]
//                      [--sections=router,concurrency,ttft,fetch]
#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "decoder/aligned_buffer.h"
#include "decoder/model.h"
#include "decoder/sampler.h"
#include "pdserve/inference/v1/inference.grpc.pb.h"
#include "tests/integration/grpc_probe.h"
#include "tests/integration/process.h"

ABSL_FLAG(std::string, model, "synthetic:bench", "model for every process");
ABSL_FLAG(int, new_tokens, 32, "tokens generated per request");
ABSL_FLAG(bool, quick, false, "contexts 128/512 instead of 1024/4096 (smoke run)");
ABSL_FLAG(int, rounds, 3, "router vs in-process: alternating rounds, best of each side");
ABSL_FLAG(std::vector<std::string>, sections,
          std::vector<std::string>({"router", "concurrency", "ttft", "fetch"}),
          "which figures to measure");

namespace {

using pdserve::testing::BinaryPath;
using pdserve::testing::Process;
namespace inf = ::pdserve::inference::v1;

int g_vocab = 32000;  // set from the model in main()

std::vector<int32_t> Prompt(int length, int salt) {
  std::vector<int32_t> ids(length);
  for (int i = 0; i < length; ++i) ids[i] = 3 + (i * 7919 + salt * 104729) % (g_vocab - 3);
  return ids;
}

struct StreamTiming {
  double ttft_s = 0;       // request start to first token
  double decode_s = 0;     // first token to last token
  int tokens = 0;
  uint32_t reused = 0;
  bool ok = false;
  inf::HopReport report;   // the router's, from the last message
};

StreamTiming Generate(inf::Router::Stub* stub, const std::vector<int32_t>& prompt, int new_tokens) {
  inf::GenerateRequest request;
  request.mutable_prompt_token_ids()->Add(prompt.begin(), prompt.end());
  request.mutable_limits()->set_max_new_tokens(new_tokens);
  request.mutable_limits()->set_ignore_eos(true);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  StreamTiming timing;
  absl::Time start = absl::Now();
  absl::Time first;
  absl::Time last;
  auto reader = stub->Generate(&context, request);
  inf::GenerateResponse message;
  while (reader->Read(&message)) {
    if (message.token_ids_size() == 0) {
      if (message.has_usage()) timing.reused = message.usage().reused_tokens();
      continue;
    }
    last = absl::Now();
    if (timing.tokens == 0) first = last;
    timing.tokens += message.token_ids_size();
    if (message.has_usage()) timing.reused = message.usage().reused_tokens();
    if (message.has_report()) timing.report = message.report();
  }
  grpc::Status status = reader->Finish();
  timing.ok = status.ok();
  if (!status.ok()) std::fprintf(stderr, "serving_bench: Generate: %s\n", status.error_message().c_str());
  timing.ttft_s = absl::ToDoubleSeconds(first - start);
  timing.decode_s = absl::ToDoubleSeconds(last - first);
  return timing;
}

// The in-process path: Prefill then DecodeStep with K/V in local memory.
StreamTiming Local(const pdserve::decoder::Model& model, const std::vector<int32_t>& prompt,
                   int new_tokens) {
  const auto layout = model.kv_layout();
  const int vocab = model.config().vocab_size;
  // K/V in the kind of memory the decode server keeps it in (huge pages).
  pdserve::decoder::internal::AlignedBuffer kv((prompt.size() + new_tokens) * layout.TokenFloats());
  std::vector<float> logits(vocab);
  absl::Time start = absl::Now();
  (void)model.Prefill({}, prompt, absl::MakeSpan(kv.data(), prompt.size() * layout.TokenFloats()),
                      [](int) {}, absl::MakeSpan(logits));
  pdserve::decoder::Sampler sampler(pdserve::decoder::SamplingParams{});
  int32_t token = sampler.SampleAt(logits, 0);
  absl::Time first = absl::Now();
  size_t length = prompt.size();
  for (int i = 1; i < new_tokens; ++i) {
    pdserve::decoder::KvSpan span{kv.data(), static_cast<int64_t>(length)};
    pdserve::decoder::Model::DecodeItem item{token, absl::MakeConstSpan(&span, 1)};
    (void)model.DecodeStep(absl::MakeConstSpan(&item, 1),
                           absl::MakeSpan(kv.data() + length * layout.TokenFloats(),
                                          layout.TokenFloats()),
                           absl::MakeSpan(logits));
    ++length;
    token = sampler.SampleAt(logits, i);
  }
  StreamTiming timing;
  timing.ok = true;
  timing.tokens = new_tokens;
  timing.ttft_s = absl::ToDoubleSeconds(first - start);
  timing.decode_s = absl::ToDoubleSeconds(absl::Now() - first);
  return timing;
}

double DecodeRate(const StreamTiming& t) {
  return t.decode_s > 0 ? (t.tokens - 1) / t.decode_s : 0;
}

// cache manager + prefill + one decode server (with `fetch`) + router.
struct Stack {
  std::unique_ptr<Process> cache, prefill, decode, router;
  std::unique_ptr<inf::Router::Stub> stub;
};

Stack StartStack(const std::string& model, const std::string& fetch) {
  Stack s;
  auto must = [](absl::StatusOr<std::unique_ptr<Process>> p) {
    if (!p.ok()) {
      std::fprintf(stderr, "serving_bench: %s\n", p.status().ToString().c_str());
      std::exit(1);
    }
    return *std::move(p);
  };
  s.cache = must(Process::StartServer(BinaryPath("kv_cache_manager"),
                                      {"--address=127.0.0.1:0", "--capacity=8GiB"}));
  const std::string cache_flag = "--cache_manager=" + s.cache->address();
  s.prefill = must(Process::StartServer(BinaryPath("prefill_server"),
                                        {"--address=127.0.0.1:0", cache_flag, "--model=" + model}));
  s.decode = must(Process::StartServer(
      BinaryPath("decode_server"),
      {"--address=127.0.0.1:0", cache_flag, "--model=" + model, "--kv_fetch=" + fetch}));
  s.router = must(Process::StartServer(
      BinaryPath("router_server"),
      {"--address=127.0.0.1:0", cache_flag, "--model=" + model,
       "--prefill=" + s.prefill->address(), "--decode=" + s.decode->address()}));
  if (!pdserve::testing::WaitServing(s.router->address(), "", absl::Seconds(120)).ok()) {
    std::fprintf(stderr, "serving_bench: router never SERVING\n");
    std::exit(1);
  }
  s.stub = inf::Router::NewStub(
      grpc::CreateChannel(s.router->address(), grpc::InsecureChannelCredentials()));
  return s;
}

// Router vs in-process at batch 1: alternating rounds, the best decode rate of each side (the
// machine is shared; alternating gives both the same conditions).
nlohmann::json RouterVsLocal(const pdserve::decoder::Model& model, Stack& stack, int ctx, int n,
                             int rounds) {
  double local_rate = 0, router_rate = 0;
  bool ok = true;
  for (int round = 0; round < std::max(1, rounds); ++round) {
    local_rate = std::max(local_rate, DecodeRate(Local(model, Prompt(ctx, 1), n)));
    StreamTiming remote = Generate(stack.stub.get(), Prompt(ctx, 2 + round), n);
    ok = ok && remote.ok;
    const inf::HopReport& r = remote.report;
    const double steps = std::max(1, remote.tokens - 1);
    std::fprintf(stderr,
                 "  round %d: router %.1f tok/s; per decode step: compute %.2f ms, fetch %.2f ms, "
                 "append %.2f ms\n",
                 round, DecodeRate(remote), r.decode_compute_us() / steps / 1e3,
                 r.kv_fetch_us() / steps / 1e3, r.append_us() / steps / 1e3);
    router_rate = std::max(router_rate, DecodeRate(remote));
  }
  std::fprintf(stderr, "router vs in-process, ctx %d: %.1f vs %.1f tok/s = %.3f\n", ctx,
               router_rate, local_rate, router_rate / local_rate);
  return {{"context", ctx},          {"rounds", rounds},
          {"local_decode_tok_s", local_rate}, {"router_decode_tok_s", router_rate},
          {"ratio", router_rate / local_rate}, {"ok", ok}};
}

// Aggregate tokens/s at 1, 8, 32 concurrent streams (prefill included).
nlohmann::json Concurrency(Stack& stack, int prompt_tokens, int n) {
  nlohmann::json rows = nlohmann::json::array();
  for (int streams : {1, 8, 32}) {
    std::vector<StreamTiming> timings(streams);
    std::vector<std::thread> threads;
    absl::Time start = absl::Now();
    for (int i = 0; i < streams; ++i) {
      threads.emplace_back([&, i] {
        timings[i] = Generate(stack.stub.get(), Prompt(prompt_tokens, 1000 + streams * 100 + i), n);
      });
    }
    for (auto& t : threads) t.join();
    double wall = absl::ToDoubleSeconds(absl::Now() - start);
    int tokens = 0;
    bool ok = true;
    for (auto& t : timings) {
      tokens += t.tokens;
      ok = ok && t.ok;
    }
    rows.push_back({{"streams", streams}, {"tokens", tokens}, {"wall_s", wall},
                    {"tok_s", tokens / wall}, {"ok", ok}});
  }
  return rows;
}

// TTFT of a prompt cold, then with every full block cached.
nlohmann::json Ttft(Stack& stack, int ctx) {
  std::vector<int32_t> prompt = Prompt(ctx, 7);
  StreamTiming cold = Generate(stack.stub.get(), prompt, 2);
  StreamTiming warm = Generate(stack.stub.get(), prompt, 2);
  return {{"context", ctx}, {"cold_ms", cold.ttft_s * 1e3},
          {"cached_ms", warm.ttft_s * 1e3}, {"cached_reused_tokens", warm.reused},
          {"speedup", cold.ttft_s / warm.ttft_s}};
}

// --kv_fetch=delta vs full at two contexts, a fresh stack for each.
nlohmann::json FetchModes(const std::string& model_name, std::initializer_list<int> contexts,
                          int n) {
  nlohmann::json rows = nlohmann::json::array();
  for (int ctx : contexts) {
    nlohmann::json row = {{"context", ctx}};
    for (const char* mode : {"delta", "full"}) {
      Stack stack = StartStack(model_name, mode);
      StreamTiming t = Generate(stack.stub.get(), Prompt(ctx, 3), n);
      row[std::string(mode) + "_tok_s"] = DecodeRate(t);
      row[std::string(mode) + "_ok"] = t.ok;
    }
    row["delta_over_full"] = row["delta_tok_s"].get<double>() / row["full_tok_s"].get<double>();
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string model_name = absl::GetFlag(FLAGS_model);
  const int n = absl::GetFlag(FLAGS_new_tokens);
  const bool quick = absl::GetFlag(FLAGS_quick);
  const int ctx_small = quick ? 128 : 1024;
  const int ctx_large = quick ? 512 : 4096;
  const std::vector<std::string> sections = absl::GetFlag(FLAGS_sections);
  auto wanted = [&](const char* name) {
    return std::find(sections.begin(), sections.end(), name) != sections.end();
  };
  auto model = pdserve::decoder::Model::Load(model_name);
  if (!model.ok()) {
    std::fprintf(stderr, "serving_bench: %s\n", model.status().ToString().c_str());
    return 1;
  }
  g_vocab = (*model)->config().vocab_size;
  nlohmann::json out;
  out["model"] = model_name;
  out["new_tokens"] = n;
  out["date"] = absl::FormatTime("%Y-%m-%d", absl::Now(), absl::UTCTimeZone());

  if (wanted("router") || wanted("concurrency") || wanted("ttft")) {
    Stack stack = StartStack(model_name, "delta");
    Generate(stack.stub.get(), Prompt(64, 99), 4);  // warm-up
    if (wanted("router")) {
      out["router_vs_local"] =
          RouterVsLocal(**model, stack, ctx_small, n, absl::GetFlag(FLAGS_rounds));
    }
    if (wanted("concurrency")) out["concurrency"] = Concurrency(stack, quick ? 64 : 256, n);
    if (wanted("ttft")) out["ttft"] = Ttft(stack, ctx_small);
  }
  if (wanted("fetch")) out["kv_fetch"] = FetchModes(model_name, {ctx_small, ctx_large}, n);
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
