// Continuous batching for decode. A loop thread runs one step for every sequence in the batch —
// one batched forward pass over each sequence's local K/V copy, one AppendKv call for the whole
// batch, sample, emit — and does no other I/O: admitting a sequence (GetSequence, then ReadKv of
// its committed K/V into the local copy) runs on admission workers and a sequence joins the batch
// only once its K/V is local; releases run on a release worker. The step's AppendKv starts as
// soon as the last layer's K/V is final and runs while the LM head computes; a token is emitted
// only after the manager has acknowledged its K/V.
// No gRPC types here; decode_service.h adapts it.
#ifndef PDSERVE_SERVICES_DECODE_DECODE_SCHEDULER_H_
#define PDSERVE_SERVICES_DECODE_DECODE_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
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
  // Keep the blocks read at admission and extend the last one with every token whose K/V the
  // manager acknowledged (AppendKv at the expected offset: the manager holds exactly these
  // bytes). After admission a step reads nothing.
  kDelta,
  // Re-read the whole cumulative K/V every step, on the loop thread (a baseline for comparison:
  // the one mode whose steps wait on reads).
  kFull,
};

enum class StopReason {
  kLength,  // max_new_tokens or the model's context reached
  kStop,    // a stop token (it is the last token emitted)
  kError,   // the stream ended with an error status
};

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

// Receives one request's output. Calls for one request never overlap and are ordered (they may
// come from different scheduler threads); OnFinish is the last call, after which the scheduler
// forgets the sink.
class DecodeSink {
 public:
  virtual ~DecodeSink() = default;
  virtual void OnToken(EmittedToken token) = 0;
  // `last` is the final token when the stream ends normally (status OK); absent on errors, where
  // `reason` is kError.
  virtual void OnFinish(const absl::Status& status, StopReason reason, const common::HopReport& report,
                        std::optional<EmittedToken> last) = 0;
  // True once the client cancelled or its deadline passed. Thread-safe: polled by the loop
  // before every step and while the request is being admitted.
  virtual bool Cancelled() = 0;
};

struct DecodeSchedulerOptions {
  const decoder::Model* model = nullptr;          // not owned
  const decoder::Tokenizer* tokenizer = nullptr;  // not owned
  kvclient::KvCacheClient* cache = nullptr;       // not owned, thread-safe
  std::vector<std::string> model_aliases;
  KvFetchMode fetch = KvFetchMode::kDelta;
  int max_batch = 32;                             // sequences per step; more wait their turn
  // Admissions in flight at once (each a GetSequence and a ReadKv). Admission runs ahead of the
  // batch by at most this many sequences, so a sequence is local when a slot frees up.
  int max_admissions = 4;
  uint32_t max_new_tokens_limit = 4096;
  // Called on the loop thread after every step with the batch size and step time (metrics).
  std::function<void(int batch, absl::Duration step)> on_step;
};

// Thread-safe. Owns its threads (started by the constructor, joined by the destructor, which
// finishes every request still queued, admitting or active with UNAVAILABLE).
class DecodeScheduler {
 public:
  explicit DecodeScheduler(const DecodeSchedulerOptions& options);
  ~DecodeScheduler();

  // Validates the request's fields (INVALID_ARGUMENT / NOT_FOUND naming the field) and queues
  // it. On OK, `sink` (not owned) receives tokens and exactly one OnFinish and must stay alive
  // until then; on error the sink is never called.
  absl::Status Submit(const DecodeInput& input, DecodeSink* sink) ABSL_LOCKS_EXCLUDED(mu_);

  // Tells the scheduler that some sink's Cancelled() may have turned true, so an idle loop looks
  // at the requests being admitted and abandons their reads.
  void NotifyCancelled() ABSL_LOCKS_EXCLUDED(mu_);

  // Requests queued, admitting or in the running batch.
  int active() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Sequence;
  using Batch = std::vector<std::unique_ptr<Sequence>>;
  // What the loop takes from the shared queues in one round.
  struct Intake {
    bool stop = false;
    Batch joining;        // admitted, K/V local
    Batch to_admit;       // to hand to the admission workers
  };

  void Loop() ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until there is work for the loop and takes it. `batch_size`: sequences running.
  Intake TakeWork(size_t batch_size) ABSL_LOCKS_EXCLUDED(mu_);
  // Cancels the reads of admitting requests whose client has gone.
  void CancelAbandonedAdmissions() ABSL_LOCKS_EXCLUDED(mu_);
  // Shutdown: ends every request with UNAVAILABLE, after the admissions in flight return.
  void Drain(Batch& batch, Intake& intake) ABSL_LOCKS_EXCLUDED(mu_);

  // Admission, on an admission worker: checks the request against the manager (exists, prefill
  // committed, position) and reads its K/V into seq.kv; then hands it to the loop or ends it.
  void Admit(std::unique_ptr<Sequence> seq) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status CheckAndRead(Sequence& seq);
  // Reads what seq.kv lacks from the manager (everything in kFull mode) and merges it.
  absl::Status ReadKv(Sequence& seq);

  // One decode step over `batch`, in phases; sequences that end leave the batch.
  void Step(Batch& batch);
  void DropCancelled(Batch& batch);
  void RefreshFullKv(Batch& batch);  // kFull only
  struct StepOutput;
  // The batched forward pass, with the batch's AppendKv running beside the LM head.
  absl::Status Compute(const Batch& batch, StepOutput& out);
  // Per sequence: check its append, keep its K/V, sample, emit or finish.
  void Commit(Batch& batch, const StepOutput& out);

  // Ends a request: OnFinish now; the Release (unless kept or not ours) on the release worker.
  void FinishSequence(Sequence& seq, const absl::Status& status, StopReason reason,
                      std::optional<EmittedToken> last = std::nullopt) ABSL_LOCKS_EXCLUDED(mu_);

  // Constant after construction.
  const DecodeSchedulerOptions options_;

  mutable absl::Mutex mu_;
  std::deque<std::unique_ptr<Sequence>> waiting_ ABSL_GUARDED_BY(mu_);  // submitted
  std::list<Sequence*> admitting_ ABSL_GUARDED_BY(mu_);  // owned by their admission closures
  std::deque<std::unique_ptr<Sequence>> ready_ ABSL_GUARDED_BY(mu_);  // admitted, K/V local
  int active_count_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool cancel_hint_ ABSL_GUARDED_BY(mu_) = false;

  // Huge-page storage of the local K/V copies (declared before the workers and the loop, so it
  // outlives every sequence they hold).
  KvBlockArenas arenas_;
  common::WorkerPool release_worker_{1};
  common::WorkerPool append_worker_{1};  // runs each step's AppendKv beside the LM head
  common::WorkerPool admission_workers_;
  std::thread loop_;
};

}  // namespace pdserve::decode

#endif  // PDSERVE_SERVICES_DECODE_DECODE_SCHEDULER_H_
