// Continuous batching decode loop, with admission and release off the loop.
#include "services/decode/decode_scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "decoder/status_macros.h"
#include "services/common/model_name.h"
#include "services/decode/local_kv.h"
#include "services/kv_client/call_canceller.h"

namespace pdserve::decode {

// One request. Owned by the waiting queue, then by its admission closure, then by the ready
// queue, then by the loop's batch.
struct DecodeScheduler::Sequence {
  Sequence(const DecodeInput& in, DecodeSink* s, LocalKv k)
      : input(in), sink(s), sampler(in.sampling), kv(std::move(k)) {}

  DecodeInput input;
  DecodeSink* sink = nullptr;
  decoder::Sampler sampler;
  absl::flat_hash_set<int32_t> stops;
  int32_t last_token = 0;
  uint64_t position = 0;    // committed length in the manager = last_token's position
  uint32_t step_index = 0;  // generation index of the next sampled token
  uint32_t produced = 0;
  absl::Time queued_at;
  common::HopReport report;
  // Set once admission has checked the sequence against the manager: from then on this server
  // releases it at the end (unless keep_sequence).
  bool owned = false;
  // kFull: seq.kv holds the K/V read at admission, which the first step uses as it is.
  bool kv_fresh = false;
  kvclient::CallCanceller cancel;  // abandons the admission's reads
  LocalKv kv;
};

// One step's buffers: the new K/V of every item, their logits, and the append's outcome.
struct DecodeScheduler::StepOutput {
  std::vector<float> kv;
  std::vector<float> logits;
  absl::StatusOr<std::vector<absl::Status>> appended = absl::UnknownError("append not run");
  absl::Duration compute_time;
  absl::Duration append_time;
};

DecodeScheduler::DecodeScheduler(const DecodeSchedulerOptions& options)
    : options_(options), admission_workers_(std::max(1, options.max_admissions)) {
  loop_ = std::thread([this] { Loop(); });
}

DecodeScheduler::~DecodeScheduler() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  loop_.join();
}

int DecodeScheduler::active() const {
  absl::MutexLock lock(&mu_);
  return active_count_;
}

void DecodeScheduler::NotifyCancelled() {
  absl::MutexLock lock(&mu_);
  cancel_hint_ = true;
}

absl::Status DecodeScheduler::Submit(const DecodeInput& input, DecodeSink* sink) {
  const decoder::Model& model = *options_.model;
  PDSERVE_RETURN_IF_ERROR(
      common::CheckServedModel(input.model, model.name(), options_.model_aliases));
  if (input.sequence_id.empty()) return absl::InvalidArgumentError("sequence_id: empty");
  const int vocab = model.config().vocab_size;
  if (input.last_token_id < 0 || input.last_token_id >= vocab) {
    return absl::InvalidArgumentError(absl::StrCat("last_token_id: ", input.last_token_id,
                                                   " outside the vocabulary [0, ", vocab, ")"));
  }
  if (input.max_new_tokens == 0 || input.max_new_tokens > options_.max_new_tokens_limit) {
    return absl::InvalidArgumentError(absl::StrCat("limits.max_new_tokens: ", input.max_new_tokens,
                                                   " outside [1, ", options_.max_new_tokens_limit,
                                                   "]"));
  }
  if (input.position == 0 ||
      input.position >= static_cast<uint64_t>(model.config().max_position_embeddings)) {
    return absl::InvalidArgumentError(
        absl::StrCat("position: ", input.position, " outside [1, ",
                     model.config().max_position_embeddings, ")"));
  }
  if (absl::Status s = decoder::Validate(input.sampling); !s.ok()) return s;

  auto seq = std::make_unique<Sequence>(
      input, sink, LocalKv(model.kv_layout(), &arenas_, options_.fetch == KvFetchMode::kDelta));
  seq->stops.insert(input.stop_token_ids.begin(), input.stop_token_ids.end());
  if (!input.ignore_eos) {
    seq->stops.insert(model.config().eos_token_ids.begin(), model.config().eos_token_ids.end());
  }
  seq->last_token = input.last_token_id;
  seq->position = input.position;
  seq->step_index = input.step_index;
  seq->queued_at = absl::Now();
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("decode server is shutting down");
  waiting_.push_back(std::move(seq));
  ++active_count_;
  return absl::OkStatus();
}

// ---- The loop ----

void DecodeScheduler::Loop() {
  Batch batch;
  while (true) {
    Intake intake = TakeWork(batch.size());
    if (intake.stop) {
      Drain(batch, intake);
      return;
    }
    for (auto& seq : intake.to_admit) {
      // The closure owns the sequence; admitting_ (filled by TakeWork) lets the loop cancel it.
      Sequence* raw = seq.release();
      admission_workers_.Submit([this, raw] { Admit(std::unique_ptr<Sequence>(raw)); });
    }
    for (auto& seq : intake.joining) batch.push_back(std::move(seq));
    CancelAbandonedAdmissions();
    if (!batch.empty()) Step(batch);
  }
}

DecodeScheduler::Intake DecodeScheduler::TakeWork(size_t batch_size) {
  const size_t max_batch = static_cast<size_t>(std::max(1, options_.max_batch));
  const size_t max_admissions = static_cast<size_t>(std::max(1, options_.max_admissions));
  absl::MutexLock lock(&mu_);
  // Admission runs ahead of the batch by at most max_admissions sequences.
  auto can_admit = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !waiting_.empty() && admitting_.size() < max_admissions &&
           batch_size + admitting_.size() + ready_.size() < max_batch + max_admissions;
  };
  auto has_work = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || cancel_hint_ || batch_size > 0 || can_admit() ||
           (!ready_.empty() && batch_size < max_batch);
  };
  mu_.Await(absl::Condition(&has_work));
  cancel_hint_ = false;
  Intake intake;
  intake.stop = stopping_;
  if (intake.stop) return intake;
  while (can_admit()) {
    admitting_.push_back(waiting_.front().get());
    intake.to_admit.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  while (!ready_.empty() && batch_size + intake.joining.size() < max_batch) {
    intake.joining.push_back(std::move(ready_.front()));
    ready_.pop_front();
  }
  return intake;
}

void DecodeScheduler::CancelAbandonedAdmissions() {
  absl::MutexLock lock(&mu_);
  for (Sequence* seq : admitting_) {
    if (seq->sink->Cancelled()) seq->cancel.Cancel();
  }
}

void DecodeScheduler::Drain(Batch& batch, Intake& intake) {
  const absl::Status down = absl::UnavailableError("decode server is shutting down");
  std::deque<std::unique_ptr<Sequence>> waiting;
  std::deque<std::unique_ptr<Sequence>> ready;
  {
    absl::MutexLock lock(&mu_);
    for (Sequence* seq : admitting_) seq->cancel.Cancel();
    waiting.swap(waiting_);
  }
  for (auto& seq : batch) FinishSequence(*seq, down, StopReason::kError);
  for (auto& seq : intake.joining) FinishSequence(*seq, down, StopReason::kError);
  for (auto& seq : waiting) FinishSequence(*seq, down, StopReason::kError);
  {
    // Admissions see stopping_ and end their requests themselves.
    absl::MutexLock lock(&mu_);
    auto admissions_done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return admitting_.empty();
    };
    mu_.Await(absl::Condition(&admissions_done));
    ready.swap(ready_);
  }
  for (auto& seq : ready) FinishSequence(*seq, down, StopReason::kError);
}

// ---- Admission (admission workers) ----

void DecodeScheduler::Admit(std::unique_ptr<Sequence> seq) {
  absl::Status status = CheckAndRead(*seq);
  {
    absl::MutexLock lock(&mu_);
    admitting_.remove(seq.get());
    if (stopping_) {
      status = absl::UnavailableError("decode server is shutting down");
    } else if (status.ok()) {
      ready_.push_back(std::move(seq));
      return;
    }
  }
  if (!status.ok() && !absl::IsUnavailable(status) && seq->sink->Cancelled()) {
    status = absl::CancelledError("decode: client cancelled or deadline passed");
  }
  FinishSequence(*seq, status, StopReason::kError);
}

absl::Status DecodeScheduler::CheckAndRead(Sequence& seq) {
  if (seq.sink->Cancelled()) seq.cancel.Cancel();
  absl::StatusOr<kvclient::SequenceState> state =
      options_.cache->GetSequence(seq.input.sequence_id, &seq.cancel);
  if (!state.ok()) return state.status();
  if (state->num_tokens < state->prompt_tokens) {
    return absl::FailedPreconditionError(
        absl::StrCat("sequence_id: '", seq.input.sequence_id, "' has ", state->num_tokens, " of ",
                     state->prompt_tokens, " prompt tokens committed; prefill has not finished"));
  }
  if (state->num_tokens != seq.position) {
    return absl::FailedPreconditionError(
        absl::StrCat("position: ", seq.position, " but sequence '", seq.input.sequence_id,
                     "' holds ", state->num_tokens, " tokens"));
  }
  seq.owned = true;
  seq.report.queue_us = common::Micros(absl::Now() - seq.queued_at);
  seq.kv_fresh = true;
  return ReadKv(seq);
}

absl::Status DecodeScheduler::ReadKv(Sequence& seq) {
  const absl::Time t0 = absl::Now();
  absl::StatusOr<kvclient::ReadResult> read =
      options_.cache->Read(seq.input.sequence_id, 0, seq.kv.HeldKeys(),
                           options_.model->kv_layout(), &seq.cancel);
  seq.report.kv_fetch_us += common::Micros(absl::Now() - t0);
  if (!read.ok()) return read.status();
  seq.report.kv_bytes_read += read->bytes;
  return seq.kv.Merge(*std::move(read), seq.position, seq.input.sequence_id);
}

// ---- The step ----

void DecodeScheduler::Step(Batch& batch) {
  const absl::Time step_start = absl::Now();
  DropCancelled(batch);
  if (options_.fetch == KvFetchMode::kFull) RefreshFullKv(batch);
  if (batch.empty()) return;
  StepOutput out;
  if (absl::Status computed = Compute(batch, out); !computed.ok()) {
    for (auto& seq : batch) FinishSequence(*seq, computed, StopReason::kError);
    batch.clear();
    return;
  }
  const int stepped = static_cast<int>(batch.size());
  Commit(batch, out);
  if (options_.on_step) options_.on_step(stepped, absl::Now() - step_start);
}

void DecodeScheduler::DropCancelled(Batch& batch) {
  Batch kept;
  for (auto& seq : batch) {
    if (seq->sink->Cancelled()) {
      FinishSequence(*seq, absl::CancelledError("decode: client cancelled or deadline passed"),
                     StopReason::kError);
      continue;
    }
    kept.push_back(std::move(seq));
  }
  batch.swap(kept);
}

void DecodeScheduler::RefreshFullKv(Batch& batch) {
  Batch kept;
  for (auto& seq : batch) {
    if (seq->kv_fresh) {
      seq->kv_fresh = false;
      kept.push_back(std::move(seq));
      continue;
    }
    if (absl::Status s = ReadKv(*seq); !s.ok()) {
      FinishSequence(*seq, s, StopReason::kError);
      continue;
    }
    kept.push_back(std::move(seq));
  }
  batch.swap(kept);
}

absl::Status DecodeScheduler::Compute(const Batch& batch, StepOutput& out) {
  const decoder::Model& model = *options_.model;
  const decoder::KvLayout layout = model.kv_layout();
  const int64_t token_floats = layout.TokenFloats();
  std::vector<decoder::Model::DecodeItem> items;
  for (const auto& seq : batch) items.push_back({seq->last_token, seq->kv.spans()});
  out.kv.resize(batch.size() * token_floats);
  out.logits.resize(batch.size() * model.config().vocab_size);
  std::vector<kvclient::AppendRequestItem> appends;
  for (size_t i = 0; i < batch.size(); ++i) {
    appends.push_back({batch[i]->input.sequence_id, batch[i]->position, {batch[i]->last_token},
                       absl::MakeConstSpan(out.kv).subspan(i * token_floats, token_floats)});
  }
  // The append runs on append_worker_ from the moment the last layer's K/V is final, beside
  // the LM head; this step's tokens are emitted only once it has succeeded.
  absl::Notification append_done;
  bool append_started = false;
  auto start_append = [&] {
    append_started = true;
    append_worker_.Submit([&] {
      const absl::Time start = absl::Now();
      out.appended = options_.cache->Append(appends);
      out.append_time = absl::Now() - start;
      append_done.Notify();
    });
  };
  const int last_layer = model.config().num_layers - 1;
  const absl::Time t0 = absl::Now();
  absl::Status computed = model.DecodeStep(
      items, absl::MakeSpan(out.kv),
      [&](int layer) {
        if (layer == last_layer) start_append();
      },
      absl::MakeSpan(out.logits));
  out.compute_time = absl::Now() - t0;
  // DecodeStep reports every layer, so the append has started unless it failed validation.
  if (append_started) append_done.WaitForNotification();
  return computed;
}

void DecodeScheduler::Commit(Batch& batch, const StepOutput& out) {
  const decoder::Model& model = *options_.model;
  const int64_t token_floats = model.kv_layout().TokenFloats();
  const int vocab = model.config().vocab_size;
  const uint64_t max_position = static_cast<uint64_t>(model.config().max_position_embeddings);
  Batch kept;
  for (size_t i = 0; i < batch.size(); ++i) {
    Sequence& seq = *batch[i];
    seq.report.decode_compute_us += common::Micros(out.compute_time);
    seq.report.append_us += common::Micros(out.append_time);
    absl::Status status = out.appended.ok() ? (*out.appended)[i] : out.appended.status();
    if (!status.ok()) {
      FinishSequence(seq, status, StopReason::kError);
      continue;
    }
    seq.report.kv_bytes_written += token_floats * sizeof(float);
    if (seq.kv.growable()) {
      seq.kv.Append(absl::MakeConstSpan(out.kv).subspan(i * token_floats, token_floats));
    }
    ++seq.position;
    const int32_t token =
        seq.sampler.SampleAt(absl::MakeConstSpan(out.logits).subspan(i * vocab, vocab),
                             seq.step_index);
    EmittedToken emitted{token, seq.step_index, options_.tokenizer->Decode({token})};
    ++seq.step_index;
    ++seq.produced;
    seq.last_token = token;
    if (seq.stops.contains(token)) {
      FinishSequence(seq, absl::OkStatus(), StopReason::kStop, std::move(emitted));
    } else if (seq.produced >= seq.input.max_new_tokens || seq.position + 1 >= max_position) {
      FinishSequence(seq, absl::OkStatus(), StopReason::kLength, std::move(emitted));
    } else {
      seq.sink->OnToken(std::move(emitted));
      kept.push_back(std::move(batch[i]));
    }
  }
  batch.swap(kept);
}

void DecodeScheduler::FinishSequence(Sequence& seq, const absl::Status& status, StopReason reason,
                                     std::optional<EmittedToken> last) {
  {
    absl::MutexLock lock(&mu_);
    --active_count_;
  }
  seq.sink->OnFinish(status, reason, seq.report, std::move(last));
  seq.sink = nullptr;
  if (seq.owned && !seq.input.keep_sequence) {
    // Best effort: an unreleased sequence is reclaimed by its lease.
    kvclient::KvCacheClient* cache = options_.cache;
    release_worker_.Submit(
        [cache, id = seq.input.sequence_id] { cache->Release(id).IgnoreError(); });
  }
}

}  // namespace pdserve::decode
