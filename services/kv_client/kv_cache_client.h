// Client of the KV cache manager for prefill and decode: creates sequences, streams prompt K/V
// layer by layer, appends decode steps for a whole batch in one call, reads blocks back with
// checksum verification. No gRPC types in the interface.
#ifndef PDSERVE_SERVICES_KV_CLIENT_KV_CACHE_CLIENT_H_
#define PDSERVE_SERVICES_KV_CLIENT_KV_CACHE_CLIENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "decoder/kv_layout.h"
#include "services/kv_client/call_canceller.h"
#include "services/common/auth.h"
#include "services/common/client_channel.h"

namespace pdserve::kvclient {

struct KvCacheClientOptions {
  std::string target;                       // host:port of kv_cache_manager
  common::ChannelOptions channel;
  std::string auth_token;                   // sent as "authorization: Bearer ..."
  absl::Duration rpc_timeout = absl::Seconds(30);
  size_t max_slab_bytes = size_t{1} << 20;  // K/V bytes per streamed message
};

// 128-bit name of a full block (from the manager).
struct BlockKey {
  uint64_t hi = 0;
  uint64_t lo = 0;
  bool operator==(const BlockKey&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const BlockKey& k) {
    return H::combine(std::move(h), k.hi, k.lo);
  }
};

// One block read back: valid tokens only, token-major fp32 (decoder::KvLayout order).
struct KvBlock {
  uint32_t index = 0;
  uint64_t first_token = 0;
  uint32_t num_tokens = 0;
  std::optional<BlockKey> key;                   // full blocks only
  std::shared_ptr<const std::vector<float>> data;  // num_tokens x TokenFloats
};

struct ReadResult {
  std::vector<KvBlock> blocks;  // in block order
  uint64_t sequence_length = 0;
  uint32_t block_size = 0;
  uint64_t bytes = 0;           // payload bytes received
};

struct CreatedSequence {
  std::string sequence_id;
  uint64_t cached_tokens = 0;
  uint32_t block_size = 0;
};

struct SequenceState {
  uint64_t num_tokens = 0;
  uint64_t prompt_tokens = 0;
  std::vector<int32_t> token_ids;
};

struct AppendRequestItem {
  std::string sequence_id;
  uint64_t expected_offset = 0;
  std::vector<int32_t> token_ids;
  absl::Span<const float> kv;  // token_ids.size() x TokenFloats; not owned
};

// Streams one prompt write. WriteLayer() may be called from the computing thread right after a
// layer is final; the bytes are sent by a background thread while the next layer computes.
// Destroying a writer without Commit() cancels the stream: the manager keeps nothing of it.
class PromptWriter {
 public:
  virtual ~PromptWriter() = default;
  // Queues layer `layer` of tokens [first_token, first_token + n); `kv` (n x TokenFloats,
  // token-major) must stay valid and unchanged until Commit() returns.
  virtual void WriteLayer(int layer, const float* kv) = 0;
  // Waits for every queued layer to be sent and commits. Returns the committed length.
  virtual absl::StatusOr<uint64_t> Commit() = 0;
  virtual uint64_t bytes_sent() const = 0;
};

// Thread-safe: any number of threads may call any method at once.
class KvCacheClient {
 public:
  static absl::StatusOr<std::unique_ptr<KvCacheClient>> Create(const KvCacheClientOptions& options);
  virtual ~KvCacheClient() = default;

  virtual absl::StatusOr<CreatedSequence> CreateSequence(const std::string& model_namespace,
                                                         const decoder::KvLayout& layout,
                                                         absl::Span<const int32_t> tokens,
                                                         absl::Duration lease_ttl) = 0;
  // A writer for tokens [first_token, first_token + num_tokens) of `layout`.
  virtual absl::StatusOr<std::unique_ptr<PromptWriter>> BeginWrite(
      const std::string& sequence_id, const decoder::KvLayout& layout, uint64_t first_token,
      uint64_t num_tokens) = 0;
  // One AppendKv call for the batch; per-item statuses in order. The outer status is the RPC's.
  virtual absl::StatusOr<std::vector<absl::Status>> Append(
      absl::Span<const AppendRequestItem> items) = 0;
  // Blocks overlapping [from_token, length) minus `held` full blocks; every block's checksum is
  // verified (DATA_LOSS on mismatch). `cancel` (may be null; one call at a time) abandons the
  // read: CANCELLED.
  virtual absl::StatusOr<ReadResult> Read(const std::string& sequence_id, uint64_t from_token,
                                          absl::Span<const BlockKey> held,
                                          const decoder::KvLayout& layout,
                                          CallCanceller* cancel) = 0;
  virtual absl::Status Release(const std::string& sequence_id) = 0;
  // `cancel` as for Read.
  virtual absl::StatusOr<SequenceState> GetSequence(const std::string& sequence_id,
                                                    CallCanceller* cancel) = 0;
  // True when the manager answers grpc.health.v1 SERVING within `timeout`.
  virtual bool Healthy(absl::Duration timeout) = 0;
};

}  // namespace pdserve::kvclient

#endif  // PDSERVE_SERVICES_KV_CLIENT_KV_CACHE_CLIENT_H_
