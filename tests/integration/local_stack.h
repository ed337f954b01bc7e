// Starts the pdserve processes on loopback ports for integration tests and gives typed clients.
#ifndef PDSERVE_TESTS_INTEGRATION_LOCAL_STACK_H_
#define PDSERVE_TESTS_INTEGRATION_LOCAL_STACK_H_

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pdserve/inference/v1/inference.grpc.pb.h"
#include "pdserve/kvcache/v1/kvcache.grpc.pb.h"
#include "tests/integration/process.h"

namespace pdserve::testing {

struct StackOptions {
  std::string model = "synthetic:tiny";
  std::string capacity = "256MiB";
  int decode_servers = 1;
  std::vector<std::string> decode_flags;  // extra flags for every decode server
  bool router = false;
  std::vector<std::string> router_flags;  // extra flags for the router
  std::vector<std::string> common_flags;  // extra flags for every server (e.g. --auth_token)
};

// Not thread-safe to start/stop; the clients it hands out are.
class LocalStack {
 public:
  static absl::StatusOr<std::unique_ptr<LocalStack>> Start(const StackOptions& options);

  Process& cache() { return *cache_; }
  Process& prefill() { return *prefill_; }
  Process& decode(int i) { return *decodes_[i]; }
  Process& router() { return *router_; }

  std::unique_ptr<pdserve::kvcache::v1::KvCache::Stub> CacheStub();
  std::unique_ptr<pdserve::inference::v1::Prefill::Stub> PrefillStub();
  std::unique_ptr<pdserve::inference::v1::Decode::Stub> DecodeStub(int i);
  std::unique_ptr<pdserve::inference::v1::Router::Stub> RouterStub();

  // The cache manager's GetStats.
  absl::StatusOr<pdserve::kvcache::v1::GetStatsResponse> CacheStats();
  // Polls CacheStats() every 20 ms, for up to `timeout`, until the manager holds as many
  // sequences and partial blocks as in `before` (a released sequence leaves only cached full
  // blocks); returns the last stats read, whether or not they got there.
  absl::StatusOr<pdserve::kvcache::v1::GetStatsResponse> WaitUntilReleased(
      const pdserve::kvcache::v1::GetStatsResponse& before, absl::Duration timeout);

 private:
  std::unique_ptr<Process> cache_;
  std::unique_ptr<Process> prefill_;
  std::vector<std::unique_ptr<Process>> decodes_;
  std::unique_ptr<Process> router_;
};

// A deadline `seconds` from now.
std::chrono::system_clock::time_point Deadline(int seconds);

// Runs a Decode stream to its end. Returns the tokens and the final status; `last` receives the
// last message (finish reason, report).
struct DecodeRun {
  std::vector<int32_t> tokens;
  grpc::Status status;
  pdserve::inference::v1::DecodeResponse last;
};
DecodeRun RunDecode(pdserve::inference::v1::Decode::Stub* stub,
                    const pdserve::inference::v1::DecodeRequest& request);

// Runs a router Generate stream to its end (deadline 60 s). Returns the tokens and the final
// status.
struct GenerateRun {
  std::vector<int32_t> tokens;
  grpc::Status status;
};
GenerateRun RunGenerate(pdserve::inference::v1::Router::Stub* stub,
                        const pdserve::inference::v1::GenerateRequest& request);

}  // namespace pdserve::testing

#endif  // PDSERVE_TESTS_INTEGRATION_LOCAL_STACK_H_
