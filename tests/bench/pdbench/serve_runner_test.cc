// pdbench serve against an in-test fake Router on a loopback port: timings, token counts,
// status distribution, hit ratio and goodput arithmetic.
#include "tests/bench/pdbench/serve_runner.h"

#include <memory>
#include <sstream>

#include "gtest/gtest.h"
#include "grpcpp/grpcpp.h"
#include "pdserve/inference/v1/inference.grpc.pb.h"
#include "tests/bench/pdbench/serve_report.h"

namespace pdserve::bench {
namespace {

namespace inf = ::pdserve::inference::v1;

// Streams max_new_tokens tokens one per message; the last message carries usage with
// reused_tokens = prompt/2. Prompts shorter than 20 tokens fail RESOURCE_EXHAUSTED.
class FakeRouter final : public inf::Router::Service {
 public:
  grpc::Status Generate(grpc::ServerContext*, const inf::GenerateRequest* request,
                        grpc::ServerWriter<inf::GenerateResponse>* writer) override {
    const int prompt = request->prompt_token_ids_size();
    if (prompt < 20) return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "pool full");
    const uint32_t n = request->limits().max_new_tokens();
    for (uint32_t i = 0; i < n; ++i) {
      inf::GenerateResponse r;
      r.add_token_ids(static_cast<int32_t>(100 + i));
      if (i + 1 == n) {
        r.set_finish_reason(inf::FINISH_REASON_LENGTH);
        r.mutable_usage()->set_prompt_tokens(prompt);
        r.mutable_usage()->set_completion_tokens(n);
        r.mutable_usage()->set_reused_tokens(prompt / 2);
      }
      writer->Write(r);
    }
    return grpc::Status::OK;
  }
};

constexpr char kTrace[] =
    R"({"timestamp": 0, "input_length": 1024, "output_length": 64, "hash_ids": [1, 2]}
{"timestamp": 100, "input_length": 1500, "output_length": 10, "hash_ids": [1, 2, 3]}
{"timestamp": 250, "input_length": 512, "output_length": 5000, "hash_ids": [4]}
{"timestamp": 400, "input_length": 1536, "output_length": 32, "hash_ids": [1, 5, 3]}
{"timestamp": 1000, "input_length": 2048, "output_length": 48, "hash_ids": [4, 6, 7, 8]}
)";

TEST(ServeRunnerTest, ReplaysTraceAgainstFakeRouter) {
  FakeRouter service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  std::istringstream in(kTrace);
  const std::vector<TraceRequest> trace = *ParseTrace(in, 0);
  std::vector<ScaledRequest> requests;
  for (const TraceRequest& r : trace) requests.push_back(*ScaleRequest(r, ScaleOptions()));
  ServeOptions options;
  options.target = "127.0.0.1:" + std::to_string(port);
  options.concurrency = 2;
  options.keep_tokens = true;
  absl::StatusOr<ServeRunResult> run =
      RunServe(requests, ArrivalOffsets(trace, 0, /*time_scale=*/100, 1), options);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->outcomes.size(), 5u);
  EXPECT_EQ(run->outcomes[2].code, grpc::StatusCode::RESOURCE_EXHAUSTED);  // 16-token prompt
  EXPECT_EQ(run->outcomes[0].output_tokens, 2);
  EXPECT_EQ(run->outcomes[0].tokens, (std::vector<int32_t>{100, 101}));
  EXPECT_EQ(run->outcomes[4].reused_tokens, 32);
  EXPECT_GE(run->outcomes[0].ttft_ns, 0);
  EXPECT_GE(run->outcomes[0].e2e_ns, run->outcomes[0].ttft_ns);

  const HitCeiling ceiling = ComputeHitCeiling(trace, ScaleOptions());
  const ServeSummary s = SummarizeServe(*run, Slo{}, ceiling);
  EXPECT_EQ(s.requests, 5);
  EXPECT_EQ(s.succeeded, 4);
  EXPECT_EQ(s.status_code_distribution.at("ResourceExhausted"), 1);
  EXPECT_EQ(s.short_streams, 0);
  // Prompts 32, 47, 48, 64 succeed; reused 16 + 23 + 24 + 32.
  EXPECT_EQ(s.prompt_tokens, 191);
  EXPECT_EQ(s.reused_tokens, 95);
  EXPECT_DOUBLE_EQ(s.hit_ratio, 95.0 / 191);
  EXPECT_EQ(s.good, 4);  // no SLO given
  EXPECT_EQ(s.tpot.samples, 2);  // only the two 2-token streams have a TPOT
  const nlohmann::json j = ServeSummaryToJson(s);
  EXPECT_EQ(j["prefix_cache"]["ceiling_tokens_total"], 207);
  server->Shutdown();
}

TEST(ServeReportTest, GoodputCountsRequestsWithinBothSlos) {
  constexpr int64_t kMs = 1000000;
  ServeRunResult run;
  run.duration_ns = 2000 * kMs;
  // ttft 10 ms, 11 tokens over 110 ms -> TPOT 10 ms.
  run.outcomes.push_back({0, "", 0, 10 * kMs, 110 * kMs, 32, 11, 11, true, 16, {}});
  // ttft 50 ms: misses a 20 ms TTFT SLO.
  run.outcomes.push_back({0, "", 0, 50 * kMs, 150 * kMs, 32, 11, 11, true, 0, {}});
  // TPOT (210 - 10) / 10 = 20 ms: misses a 15 ms TPOT SLO.
  run.outcomes.push_back({0, "", 0, 10 * kMs, 210 * kMs, 32, 11, 11, true, 0, {}});
  // One token: no TPOT, meets the TPOT SLO by definition.
  run.outcomes.push_back({0, "", 0, 5 * kMs, 5 * kMs, 32, 1, 1, true, 0, {}});
  run.outcomes.push_back({14, "down", 0, -1, 1 * kMs, 32, 0, 11, false, 0, {}});
  const ServeSummary s = SummarizeServe(run, Slo{20, 15}, HitCeiling());
  EXPECT_EQ(s.good, 2);
  EXPECT_DOUBLE_EQ(s.goodput, 1.0);
  EXPECT_DOUBLE_EQ(s.request_throughput, 2.0);
  EXPECT_EQ(s.tpot.samples, 3);
  EXPECT_EQ(s.tpot.p50_ns, 10 * kMs);  // TPOTs {10, 10, 20}
  EXPECT_EQ(s.ttft.p99_ns, 50 * kMs);
  EXPECT_EQ(s.prompt_tokens, 128);
  EXPECT_EQ(s.reused_tokens, 16);
  EXPECT_NE(FormatServeTable(s).find("Goodput:"), std::string::npos);
}

}  // namespace
}  // namespace pdserve::bench
