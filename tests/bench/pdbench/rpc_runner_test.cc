// pdbench rpc against an in-test fake KvCache server on a loopback port: unary, server- and
// client-streaming calls, templated and fixed data, deadlines, compressed responses, and the
// status code distribution.
#include "tests/bench/pdbench/rpc_runner.h"

#include <fstream>
#include <functional>
#include <memory>
#include <string>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "grpcpp/grpcpp.h"
#include "pdserve/kvcache/v1/kvcache.grpc.pb.h"
#include "tests/bench/pdbench/ghz_report.h"

namespace pdserve::bench {
namespace {

namespace kv = ::pdserve::kvcache::v1;

// Lookup fails NOT_FOUND when the first token is a multiple of 3; ReadKv streams from_token
// messages of 1 KiB of 'a' (compressible); WriteKv counts its messages.
class FakeKvCache final : public kv::KvCache::Service {
 public:
  grpc::Status Lookup(grpc::ServerContext*, const kv::LookupRequest* request,
                      kv::LookupResponse* response) override {
    if (request->token_ids_size() == 0) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "token_ids is empty");
    }
    if (request->token_ids(0) % 3 == 0) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "multiple of 3");
    }
    response->set_cached_tokens(request->token_ids_size());
    response->set_block_size(16);
    return grpc::Status::OK;
  }

  grpc::Status GetStats(grpc::ServerContext*, const kv::GetStatsRequest*,
                        kv::GetStatsResponse* response) override {
    response->set_block_size(16);
    return grpc::Status::OK;
  }

  grpc::Status ReadKv(grpc::ServerContext*, const kv::ReadKvRequest* request,
                      grpc::ServerWriter<kv::ReadKvResponse>* writer) override {
    for (uint64_t i = 0; i < request->from_token(); ++i) {
      kv::ReadKvResponse r;
      r.set_block_index(i);
      r.set_data(std::string(1024, 'a'));
      writer->Write(r);
    }
    return grpc::Status::OK;
  }

  grpc::Status WriteKv(grpc::ServerContext*, grpc::ServerReader<kv::WriteKvRequest>* reader,
                       kv::WriteKvResponse* response) override {
    kv::WriteKvRequest r;
    uint64_t n = 0;
    while (reader->Read(&r)) ++n;
    response->set_num_tokens(n);
    return grpc::Status::OK;
  }
};

// GetStats answers only once released (or after 10 s).
class StalledKvCache final : public kv::KvCache::Service {
 public:
  grpc::Status GetStats(grpc::ServerContext*, const kv::GetStatsRequest*,
                        kv::GetStatsResponse*) override {
    release_.WaitForNotificationWithTimeout(absl::Seconds(10));
    return grpc::Status::OK;
  }
  void Release() { release_.Notify(); }

 private:
  absl::Notification release_;
};

// Starts `service` on a loopback port after `configure` has seen the builder; "" on failure.
std::string StartServer(grpc::Service* service, std::unique_ptr<grpc::Server>* server,
                        const std::function<void(grpc::ServerBuilder&)>& configure = {}) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service);
  if (configure) configure(builder);
  *server = builder.BuildAndStart();
  if (*server == nullptr) return "";
  return "127.0.0.1:" + std::to_string(port);
}

class RpcRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    target_ = StartServer(&service_, &server_);
    ASSERT_NE(target_, "");
  }
  void TearDown() override { server_->Shutdown(); }

  RpcRunOptions Options(const std::string& config_json) {
    absl::StatusOr<GhzConfig> config = ParseGhzConfig(config_json);
    EXPECT_TRUE(config.ok()) << config.status();
    RpcRunOptions options;
    if (config.ok()) options.config = *config;
    options.target = target_;
    return options;
  }

  FakeKvCache service_;
  std::unique_ptr<grpc::Server> server_;
  std::string target_;
};

TEST_F(RpcRunnerTest, CountsStatusCodesOfTemplatedUnaryCalls) {
  RpcRunOptions options = Options(R"({
      "call": "pdserve.kvcache.v1.KvCache.Lookup", "insecure": true,
      "total": 30, "concurrency": 4, "connections": 2,
      "data": {"model_namespace": "synthetic:tiny", "token_ids": ["{{.RequestNumber}}", 5]}})");
  options.threads = 2;
  absl::StatusOr<RpcRunResult> run = RunRpcLoad(options);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_FALSE(run->server_streaming);
  const GhzReport report = BuildGhzReport(run->calls, run->total_ns, false);
  EXPECT_EQ(report.count, 30u);
  // Request numbers 0..29: 0, 3, ..., 27 are multiples of 3.
  EXPECT_EQ(report.status_code_distribution.at("OK"), 20);
  EXPECT_EQ(report.status_code_distribution.at("NotFound"), 10);
  EXPECT_EQ(report.error_distribution.at("rpc error: code = NotFound desc = multiple of 3"), 10);
  EXPECT_EQ(report.latency_distribution.size(), 7u);
}

TEST_F(RpcRunnerTest, ArrayDataIsRoundRobinForUnaryCalls) {
  RpcRunOptions options = Options(R"({
      "call": "pdserve.kvcache.v1.KvCache/Lookup", "insecure": true,
      "total": 9, "concurrency": 1,
      "data": [{"model_namespace": "a", "token_ids": [1]},
               {"model_namespace": "a", "token_ids": []},
               {"model_namespace": "a", "token_ids": [3]}]})");
  absl::StatusOr<RpcRunResult> run = RunRpcLoad(options);
  ASSERT_TRUE(run.ok()) << run.status();
  const GhzReport report = BuildGhzReport(run->calls, run->total_ns, false);
  EXPECT_EQ(report.status_code_distribution.at("OK"), 3);
  EXPECT_EQ(report.status_code_distribution.at("InvalidArgument"), 3);
  EXPECT_EQ(report.status_code_distribution.at("NotFound"), 3);
}

TEST_F(RpcRunnerTest, FixedArrayDataIsSharedByEveryDriver) {
  RpcRunOptions options = Options(R"({
      "call": "pdserve.kvcache.v1.KvCache/Lookup", "insecure": true,
      "total": 30, "concurrency": 4, "connections": 2,
      "data": [{"model_namespace": "a", "token_ids": [1]},
               {"model_namespace": "a", "token_ids": []},
               {"model_namespace": "a", "token_ids": [3]}]})");
  options.threads = 2;
  absl::StatusOr<RpcRunResult> run = RunRpcLoad(options);
  ASSERT_TRUE(run.ok()) << run.status();
  const GhzReport report = BuildGhzReport(run->calls, run->total_ns, false);
  EXPECT_EQ(report.status_code_distribution.at("OK"), 10);
  EXPECT_EQ(report.status_code_distribution.at("InvalidArgument"), 10);
  EXPECT_EQ(report.status_code_distribution.at("NotFound"), 10);
}

TEST_F(RpcRunnerTest, DecodesCompressedResponses) {
  std::unique_ptr<grpc::Server> gzip_server;
  const std::string gzip_target =
      StartServer(&service_, &gzip_server, [](grpc::ServerBuilder& builder) {
        builder.SetDefaultCompressionAlgorithm(GRPC_COMPRESS_GZIP);
      });
  ASSERT_NE(gzip_target, "");
  RpcRunOptions options = Options(R"({
      "call": "pdserve.kvcache.v1.KvCache.ReadKv", "insecure": true, "total": 3,
      "concurrency": 1, "data": {"sequence_id": "s", "from_token": 2}})");
  options.target = gzip_target;
  options.responses_path = ::testing::TempDir() + "/gzip_responses.jsonl";
  absl::StatusOr<RpcRunResult> run = RunRpcLoad(options);
  gzip_server->Shutdown();
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(BuildGhzReport(run->calls, run->total_ns, true).status_code_distribution.at("OK"), 3);
  std::ifstream in(options.responses_path);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  // base64("aaa") = "YWFh": the 1 KiB of 'a' arrived decompressed.
  EXPECT_NE(line.find("\"data\":\"YWFh"), std::string::npos) << line.substr(0, 200);
}

TEST(RpcRunnerDeadlineTest, TimeoutIsEnforcedByTheClient) {
  // The server's minimal stack has no deadline filter, so only the client can end the calls.
  StalledKvCache service;
  std::unique_ptr<grpc::Server> server;
  const std::string target = StartServer(&service, &server, [](grpc::ServerBuilder& builder) {
    builder.AddChannelArgument(GRPC_ARG_MINIMAL_STACK, 1);
  });
  ASSERT_NE(target, "");
  absl::StatusOr<GhzConfig> config = ParseGhzConfig(R"({
      "call": "pdserve.kvcache.v1.KvCache.GetStats", "insecure": true,
      "total": 2, "concurrency": 2, "timeout": "200ms"})");
  ASSERT_TRUE(config.ok()) << config.status();
  RpcRunOptions options;
  options.config = *config;
  options.target = target;
  absl::StatusOr<RpcRunResult> run = RunRpcLoad(options);
  service.Release();
  server->Shutdown();
  ASSERT_TRUE(run.ok()) << run.status();
  const GhzReport report = BuildGhzReport(run->calls, run->total_ns, false);
  EXPECT_EQ(report.status_code_distribution.at("DeadlineExceeded"), 2);
  EXPECT_LT(report.slowest_ns, absl::ToInt64Nanoseconds(absl::Seconds(5)));
}

TEST_F(RpcRunnerTest, ServerStreamingReportsMessagesAndFirstMessage) {
  RpcRunOptions options = Options(R"({
      "call": "pdserve.kvcache.v1.KvCache.ReadKv", "insecure": true,
      "total": 10, "concurrency": 3, "data": {"sequence_id": "s", "from_token": 4}})");
  options.responses_path = ::testing::TempDir() + "/readkv_responses.jsonl";
  absl::StatusOr<RpcRunResult> run = RunRpcLoad(options);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->server_streaming);
  const GhzReport report = BuildGhzReport(run->calls, run->total_ns, true);
  EXPECT_EQ(report.status_code_distribution.at("OK"), 10);
  EXPECT_EQ(report.messages, 40);
  EXPECT_GT(report.first_message_fastest_ns, 0);
  EXPECT_LE(report.first_message_slowest_ns, report.slowest_ns);
  std::ifstream in(options.responses_path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) ++lines;
  EXPECT_EQ(lines, 40);
}

TEST_F(RpcRunnerTest, ClientStreamingSendsTheWholeArray) {
  RpcRunOptions options = Options(R"({
      "call": "pdserve.kvcache.v1.KvCache.WriteKv", "insecure": true,
      "total": 5, "concurrency": 2,
      "data": [{"begin": {"sequence_id": "s{{.RequestNumber}}", "num_tokens": 1}},
               {"slab": {"num_tokens": 1, "num_layers": 1, "data": "AAAA"}},
               {"commit": {}}]})");
  options.responses_path = ::testing::TempDir() + "/writekv_responses.jsonl";
  absl::StatusOr<RpcRunResult> run = RunRpcLoad(options);
  ASSERT_TRUE(run.ok()) << run.status();
  const GhzReport report = BuildGhzReport(run->calls, run->total_ns, false);
  EXPECT_EQ(report.status_code_distribution.at("OK"), 5);
  std::ifstream in(options.responses_path);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_NE(line.find("\"num_tokens\":\"3\""), std::string::npos) << line;
}

TEST_F(RpcRunnerTest, DurationStopsTheRun) {
  RpcRunOptions options = Options(R"({
      "call": "pdserve.kvcache.v1.KvCache.GetStats", "insecure": true,
      "duration": "300ms", "concurrency": 2, "rps": 100})");
  absl::StatusOr<RpcRunResult> run = RunRpcLoad(options);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->stopped_by_duration);
  // 100 calls/s for 0.3 s: about 30 calls (rps limits the rate, so never far more).
  EXPECT_GE(run->calls.size(), 10u);
  EXPECT_LE(run->calls.size(), 40u);
}

TEST_F(RpcRunnerTest, BadConfigIsAnError) {
  RpcRunOptions unknown =
      Options(R"({"call": "pdserve.kvcache.v1.KvCache.Nope", "insecure": true})");
  EXPECT_EQ(RunRpcLoad(unknown).status().code(), absl::StatusCode::kNotFound);
  RpcRunOptions bad_data = Options(
      R"({"call": "pdserve.kvcache.v1.KvCache.Lookup", "insecure": true, "data": {"nope": 1}})");
  EXPECT_EQ(RunRpcLoad(bad_data).status().code(), absl::StatusCode::kInvalidArgument);
  RpcRunOptions bad_template = Options(R"({"call": "pdserve.kvcache.v1.KvCache.Lookup",
      "insecure": true, "total": 3, "data": {"token_ids": ["x{{.RequestNumber}}"]}})");
  EXPECT_EQ(RunRpcLoad(bad_template).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pdserve::bench
