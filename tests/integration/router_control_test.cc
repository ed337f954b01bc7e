// The router's stream control and metrics against real processes: a client that cancels or
// whose deadline passes stops the decode within a step and leaves the manager holding only
// cached full blocks; /metrics counts requests, tokens and errors.
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/local_stack.h"
#include "tests/integration/metrics_scrape.h"

namespace pdserve::testing {
namespace {

namespace inf = ::pdserve::inference::v1;
namespace kv = ::pdserve::kvcache::v1;

inf::GenerateRequest LongRequest(int salt) {
  inf::GenerateRequest request;
  for (int i = 0; i < 40; ++i) request.add_prompt_token_ids(3 + (i * 31 + salt * 7) % 500);
  request.mutable_limits()->set_max_new_tokens(4000);
  request.mutable_limits()->set_ignore_eos(true);
  return request;
}

// The value of an unlabelled sample `name` in a Prometheus page, or -1.
double Sample(const std::string& page, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const size_t at = page.find(key);
  if (at == std::string::npos) return -1;
  const size_t begin = at + key.size();
  double value = -1;
  if (!absl::SimpleAtod(page.substr(begin, page.find('\n', begin) - begin), &value)) return -1;
  return value;
}

class RouterControlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    StackOptions options;
    options.router = true;
    options.router_flags = {"--metrics_port=0"};
    auto stack = LocalStack::Start(options);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = stack->release();
    auto port = stack_->router().WaitForPort("router_server metrics on ");
    ASSERT_TRUE(port.ok()) << port.status();
    metrics_port_ = *port;
  }
  static void TearDownTestSuite() { delete stack_; }

  kv::GetStatsResponse CacheStats() {
    absl::StatusOr<kv::GetStatsResponse> stats = stack_->CacheStats();
    EXPECT_TRUE(stats.ok()) << stats.status();
    return stats.ok() ? *stats : kv::GetStatsResponse();
  }

  // Waits until the manager holds exactly the sequences and partial blocks of `before`.
  void ExpectReleased(const kv::GetStatsResponse& before) {
    absl::StatusOr<kv::GetStatsResponse> s = stack_->WaitUntilReleased(before, absl::Seconds(20));
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->sequences(), before.sequences());
    EXPECT_EQ(s->blocks_partial(), before.blocks_partial());
    EXPECT_EQ(s->blocks_pinned(), before.blocks_pinned());
  }

  static LocalStack* stack_;
  static int metrics_port_;
};

LocalStack* RouterControlTest::stack_ = nullptr;
int RouterControlTest::metrics_port_ = 0;

TEST_F(RouterControlTest, ClientCancelStopsTheDecodeAndReleasesTheSequence) {
  const kv::GetStatsResponse before = CacheStats();
  auto stub = stack_->RouterStub();
  grpc::ClientContext context;
  context.set_deadline(Deadline(60));
  auto reader = stub->Generate(&context, LongRequest(1));
  inf::GenerateResponse message;
  int tokens = 0;
  while (tokens < 5 && reader->Read(&message)) tokens += message.token_ids_size();
  ASSERT_GE(tokens, 5);
  context.TryCancel();
  while (reader->Read(&message)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ExpectReleased(before);
  EXPECT_GT(CacheStats().blocks_cached(), before.blocks_cached()) << "full blocks stay cached";
}

TEST_F(RouterControlTest, ExpiredDeadlineStopsTheStreamAndReleasesTheSequence) {
  const kv::GetStatsResponse before = CacheStats();
  auto stub = stack_->RouterStub();
  grpc::ClientContext context;
  // 4000 tokens take seconds on any machine; the deadline passes mid-stream.
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(400));
  auto reader = stub->Generate(&context, LongRequest(2));
  inf::GenerateResponse message;
  int tokens = 0;
  while (reader->Read(&message)) tokens += message.token_ids_size();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(tokens, 4000);
  ExpectReleased(before);
}

TEST_F(RouterControlTest, MetricsCountRequestsTokensAndErrors) {
  const std::string first = ScrapeMetrics(metrics_port_);
  ASSERT_NE(first.find("200 OK"), std::string::npos) << first;
  auto stub = stack_->RouterStub();
  inf::GenerateRequest request = LongRequest(3);
  request.mutable_limits()->set_max_new_tokens(7);
  ASSERT_TRUE(RunGenerate(stub.get(), request).status.ok());
  inf::GenerateRequest empty;  // INVALID_ARGUMENT: no prompt
  empty.mutable_limits()->set_max_new_tokens(1);
  ASSERT_EQ(RunGenerate(stub.get(), empty).status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Counters settle when each stream's handler finishes, just after the client sees the end.
  std::string second;
  for (int i = 0; i < 100; ++i) {
    second = ScrapeMetrics(metrics_port_);
    if (Sample(second, "pdserve_router_active_streams") == 0 &&
        Sample(second, "pdserve_router_request_errors_total") >
            Sample(first, "pdserve_router_request_errors_total")) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto delta = [&](const std::string& name) { return Sample(second, name) - Sample(first, name); };
  EXPECT_EQ(delta("pdserve_router_requests_total"), 2) << second;
  EXPECT_EQ(delta("pdserve_router_request_errors_total"), 1) << second;
  EXPECT_EQ(delta("pdserve_router_generated_tokens_total"), 7) << second;
  EXPECT_EQ(delta("pdserve_router_prompt_tokens_total"), 40) << second;
  EXPECT_EQ(delta("pdserve_router_ttft_seconds_count"), 1) << second;
  EXPECT_EQ(delta("pdserve_router_tpot_seconds_count"), 6) << second;
  EXPECT_EQ(Sample(second, "pdserve_router_active_streams"), 0) << second;
  EXPECT_GT(delta("pdserve_router_kv_bytes_written_total"), 0) << second;
  EXPECT_EQ(Sample(second, "pdserve_router_decode_members_healthy"), 1) << second;
}

}  // namespace
}  // namespace pdserve::testing
