// Continuous batching for decode: one loop runs a step for every active sequence at once —
// fetch each sequence's cumulative K/V from the cache manager, one batched forward pass, one
// AppendKv call for the whole batch, sample, emit. Sequences join and leave between steps.
// The AppendKv call starts as soon as the last layer's K/V is final and runs while the LM head
// computes; a token is emitted only after the manager has acknowledged its K/V.
// No gRPC types here; decode_service.h adapts it.
#ifndef PDSERVE_SERVICES_DECODE_DECODE_SCHEDULER_H_
#define PDSERVE_SERVICES_DECODE_DECODE_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "decoder/model.h"
#include "decoder/sampler.h"
#include "decoder/tokenizer.h"
#include "services/common/hop_report.h"
#include "services/common/worker_pool.h"
#include "services/decode/kv_block_arena.h"
#include "services/kv_client/kv_cache_client.h"

namespace pdserve::decode {

enum class KvFetchMode {
  // Keep the blocks already read and extend the last one with every token whose K/V the
  // manager acknowledged (AppendKv at the expected offset: the manager holds exactly these
  // bytes); fetch only what is missing, which after admission is nothing.
  kDelta,
  kFull,  // re-read the whole cumulative K/V every step (for comparison)
};

enum class StopReason { kLength, kStop };

struct DecodeInput {
  std::string model;              // empty = the served model
  std::string sequence_id;
  int32_t last_token_id = 0;      // newest token; its K/V is not in the manager yet
  uint64_t position = 0;          // its position = the sequence's committed length
  uint32_t step_index = 0;        // generation index of the next sampled token
  decoder::SamplingParams sampling;
  uint32_t max_new_tokens = 0;    // tokens this call produces, >= 1
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  bool keep_sequence = false;     // do not release the sequence at the end
};

struct EmittedToken {
  int32_t token_id = 0;
  uint32_t step_index = 0;  // generation index
  std::string text;
};

// Receives one request's output. Called only from the scheduler thread, never concurrently;
// OnFinish is the last call, after which the scheduler forgets the sink.
class DecodeSink {
 public:
  virtual ~DecodeSink() = default;
  virtual void OnToken(EmittedToken token) = 0;
  // `last` is the final token when the stream ends normally (status OK); absent on errors.
  virtual void OnFinish(const absl::Status& status, StopReason reason, const common::HopReport& report,
                        std::optional<EmittedToken> last) = 0;
  // True once the client cancelled or its deadline passed; checked before every step.
  virtual bool Cancelled() = 0;
};

struct DecodeSchedulerOptions {
  const decoder::Model* model = nullptr;          // not owned
  const decoder::Tokenizer* tokenizer = nullptr;  // not owned
  kvclient::KvCacheClient* cache = nullptr;       // not owned
  std::vector<std::string> model_aliases;
  KvFetchMode fetch = KvFetchMode::kDelta;
  int max_batch = 32;                             // sequences per step; more wait their turn
  uint32_t max_new_tokens_limit = 4096;
  // Called on the loop thread after every step with the batch size and step time (metrics).
  std::function<void(int batch, absl::Duration step)> on_step;
};

// Thread-safe. Owns the loop thread (started by the constructor, joined by the destructor, which
// finishes every request still queued or active with UNAVAILABLE).
class DecodeScheduler {
 public:
  explicit DecodeScheduler(const DecodeSchedulerOptions& options);
  ~DecodeScheduler();

  // Validates the request's fields (INVALID_ARGUMENT / NOT_FOUND naming the field) and queues
  // it. On OK, `sink` (not owned) receives tokens and exactly one OnFinish and must stay alive
  // until then; on error the sink is never called.
  absl::Status Submit(const DecodeInput& input, DecodeSink* sink) ABSL_LOCKS_EXCLUDED(mu_);

  // Requests queued or in the running batch.
  int active() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Sequence;
  struct LocalBlock;
  // The slot arena for blocks of `block_size` tokens (loop thread only).
  KvBlockArena& Arena(uint32_t block_size);
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);
  // Checks a queued request against the manager (exists, prefill committed, position).
  absl::Status Admit(Sequence& seq);
  // Makes seq.spans cover the sequence's committed K/V: reads from the manager what the local
  // copy lacks (everything in kFull mode). Errors finish the sequence.
  absl::Status Fetch(Sequence& seq);
  // Reads from the manager every block not held locally as a full block (all in kFull mode).
  absl::Status Read(Sequence& seq);
  // Adds a token's K/V that the manager has just acknowledged to the local copy.
  // REQUIRES: kDelta and seq.block_size > 0, so every block is an arena slot with room for
  // block_size tokens (Read copies each block into one).
  void KeepAppended(Sequence& seq, absl::Span<const float> kv);
  void Step(std::vector<std::unique_ptr<Sequence>>& batch);
  void FinishSequence(Sequence& seq, const absl::Status& status, StopReason reason,
                      std::optional<EmittedToken> last = std::nullopt);

  const DecodeSchedulerOptions options_;

  mutable absl::Mutex mu_;
  std::deque<std::unique_ptr<Sequence>> pending_ ABSL_GUARDED_BY(mu_);
  int active_count_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  common::WorkerPool append_worker_{1};  // runs each step's AppendKv beside the LM head
  // Huge-page storage of the local K/V copies, one arena per block size (loop thread only;
  // declared before loop_, so it outlives every sequence the loop holds).
  std::vector<std::unique_ptr<KvBlockArena>> arenas_;
  std::thread loop_;
};

}  // namespace pdserve::decode

#endif  // PDSERVE_SERVICES_DECODE_DECODE_SCHEDULER_H_
