// Servers start without their cache manager, report NOT_SERVING, and recover when it appears;
// every server exports Prometheus metrics.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/grpc_probe.h"
#include "tests/integration/local_stack.h"
#include "tests/integration/metrics_scrape.h"
#include "tests/integration/process.h"

namespace pdserve::testing {
namespace {

// A loopback port that was free a moment ago.
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// Port from a "<binary> metrics on 127.0.0.1:PORT" line is not captured by Process, so the
// tests pick the metrics port themselves.
class DependencyHealthTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DependencyHealthTest, NotServingUntilTheCacheManagerAppears) {
  const int cache_port = FreePort();
  const int metrics_port = FreePort();
  auto server = Process::StartServer(
      BinaryPath(GetParam()),
      {"--address=127.0.0.1:0", absl::StrCat("--cache_manager=127.0.0.1:", cache_port),
       "--model=synthetic:tiny", absl::StrCat("--metrics_port=", metrics_port)});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->address();

  // Give the watcher time to probe the missing manager at least once.
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  auto status = HealthStatus(address, "");
  while ((!status.ok() || *status != "NOT_SERVING") && absl::Now() < deadline) {
    status = HealthStatus(address, "");
  }
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, "NOT_SERVING");

  auto cache = Process::StartServer(
      BinaryPath("kv_cache_manager"),
      {absl::StrCat("--address=127.0.0.1:", cache_port), "--capacity=64MiB"});
  ASSERT_TRUE(cache.ok()) << cache.status();
  EXPECT_TRUE(WaitServing(address, "", absl::Seconds(30)).ok());

  std::string metrics = ScrapeMetrics(metrics_port);
  EXPECT_NE(metrics.find("200 OK"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find(GetParam() == "prefill_server" ? "pdserve_prefill_requests_total"
                                                        : "pdserve_decode_batch_size_bucket"),
            std::string::npos)
      << metrics;
}

INSTANTIATE_TEST_SUITE_P(ModelServers, DependencyHealthTest,
                         ::testing::Values("prefill_server", "decode_server"));

}  // namespace
}  // namespace pdserve::testing
