// Every server binary starts on port 0, answers grpc.health.v1 SERVING, lists its service
// through reflection, and exits 0 on SIGTERM.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/grpc_probe.h"
#include "tests/integration/local_stack.h"
#include "tests/integration/process.h"

namespace pdserve::testing {
namespace {

struct ServerCase {
  std::string binary;
  std::string service;     // full gRPC service name
  bool needs_cache;        // gets --cache_manager=<a running kv_cache_manager>
  std::vector<std::string> extra_args;
};

// The server's arguments for case `c`: port 0, a running cache manager (kept in *cache) if it
// needs one, then the case's own flags.
void ServerArgs(const ServerCase& c, std::unique_ptr<Process>* cache,
                std::vector<std::string>* args) {
  *args = {"--address=127.0.0.1:0"};
  if (c.needs_cache) {
    auto started = Process::StartServer(BinaryPath("kv_cache_manager"),
                                        {"--address=127.0.0.1:0", "--capacity=64MiB"});
    ASSERT_TRUE(started.ok()) << started.status();
    *cache = std::move(*started);
    args->push_back("--cache_manager=" + (*cache)->address());
  }
  args->insert(args->end(), c.extra_args.begin(), c.extra_args.end());
}

class ServerLifecycleTest : public ::testing::TestWithParam<ServerCase> {};

TEST_P(ServerLifecycleTest, ServesHealthAndReflectionThenExitsCleanlyOnSigterm) {
  const ServerCase& c = GetParam();
  ASSERT_EQ(access(BinaryPath(c.binary).c_str(), X_OK), 0) << BinaryPath(c.binary);

  std::unique_ptr<Process> cache;
  std::vector<std::string> args;
  ASSERT_NO_FATAL_FAILURE(ServerArgs(c, &cache, &args));

  auto server = Process::StartServer(BinaryPath(c.binary), args);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->address();

  ASSERT_TRUE(WaitServing(address, "", absl::Seconds(30)).ok());
  ASSERT_TRUE(WaitServing(address, c.service, absl::Seconds(30)).ok());
  auto unknown = HealthStatus(address, "no.such.Service");
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_EQ(*unknown, "SERVICE_UNKNOWN");

  auto services = ListServices(address);
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_NE(std::find(services->begin(), services->end(), c.service), services->end())
      << "reflection does not list " << c.service;
  EXPECT_NE(std::find(services->begin(), services->end(), "grpc.health.v1.Health"),
            services->end());

  (*server)->Signal(SIGTERM);
  auto code = (*server)->Wait(absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
}

std::vector<ServerCase> Cases() {
  std::vector<ServerCase> cases = {
      {"kv_cache_manager", "pdserve.kvcache.v1.KvCache", false, {"--capacity=64MiB"}},
      {"prefill_server", "pdserve.inference.v1.Prefill", true, {"--model=synthetic:tiny"}},
      {"decode_server", "pdserve.inference.v1.Decode", true, {"--model=synthetic:tiny"}},
  };
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllServers, ServerLifecycleTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<ServerCase>& info) {
                           return info.param.binary;
                         });

// Each server names on its start-up line the kernel family it chose; PDSERVE_KERNELS forces one
// (portable runs on every CPU).
TEST_P(ServerLifecycleTest, StartUpLineNamesTheForcedKernelFamily) {
  const ServerCase& c = GetParam();
  std::unique_ptr<Process> cache;
  std::vector<std::string> args;
  ASSERT_NO_FATAL_FAILURE(ServerArgs(c, &cache, &args));
  ASSERT_EQ(setenv("PDSERVE_KERNELS", "portable", 1), 0);
  auto server = Process::StartServer(BinaryPath(c.binary), args);
  unsetenv("PDSERVE_KERNELS");
  ASSERT_TRUE(server.ok()) << server.status();
  auto port = (*server)->WaitForPort("(kernels: portable) listening on ");
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(*port, (*server)->port());
  ASSERT_TRUE(WaitServing((*server)->address(), "", absl::Seconds(30)).ok());
}

// A family that cannot be had is refused by name at start-up, never replaced by another.
TEST_P(ServerLifecycleTest, UnknownKernelFamilyIsRefusedAtStartUp) {
  const ServerCase& c = GetParam();
  std::string command =
      "PDSERVE_KERNELS=avx1024 exec " + BinaryPath(c.binary) + " --address=127.0.0.1:0";
  if (c.needs_cache) command += " --cache_manager=127.0.0.1:1";
  for (const std::string& a : c.extra_args) command += " " + a;
  int exit_code = -1;
  auto out = Process::Run("/bin/sh", {"-c", command + " 2>&1"}, absl::Seconds(60), &exit_code);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_NE(exit_code, 0) << *out;
  EXPECT_NE(out->find("PDSERVE_KERNELS='avx1024' is not a kernel family"), std::string::npos)
      << *out;
  EXPECT_EQ(out->find("listening on"), std::string::npos) << *out;
}

// The router needs live prefill and decode pools, so it gets the whole stack.
TEST(RouterLifecycleTest, ServesHealthAndReflectionThenExitsCleanlyOnSigterm) {
  StackOptions options;
  options.router = true;
  auto stack = LocalStack::Start(options);
  ASSERT_TRUE(stack.ok()) << stack.status();
  const std::string address = (*stack)->router().address();
  EXPECT_TRUE(WaitServing(address, "pdserve.inference.v1.Router", absl::Seconds(30)).ok());
  auto services = ListServices(address);
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_NE(std::find(services->begin(), services->end(), "pdserve.inference.v1.Router"),
            services->end());
  (*stack)->router().Signal(SIGTERM);
  auto code = (*stack)->router().Wait(absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
}

}  // namespace
}  // namespace pdserve::testing
