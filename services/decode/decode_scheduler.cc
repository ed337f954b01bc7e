// Continuous batching decode loop.
#include "services/decode/decode_scheduler.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "decoder/status_macros.h"
#include "services/common/model_name.h"

namespace pdserve::decode {

// One request in the scheduler. Owned by the loop thread once admitted.
struct DecodeScheduler::Sequence {
  DecodeInput input;
  DecodeSink* sink = nullptr;
  decoder::Sampler sampler{decoder::SamplingParams{}};
  absl::flat_hash_set<int32_t> stops;
  int32_t last_token = 0;
  uint64_t position = 0;    // committed length in the manager = last_token's position
  uint32_t step_index = 0;  // generation index of the next sampled token
  uint32_t produced = 0;
  absl::Time queued_at;
  common::HopReport report;
  // Local copy of the sequence's K/V blocks, by block index.
  std::vector<LocalBlock> blocks;
  uint32_t block_size = 0;  // the manager's, from the first read
  std::vector<decoder::KvSpan> spans;  // the current step's view over `blocks`
};

// One block of a sequence's local K/V copy. In kDelta mode `data` is an arena slot holding a
// head-major block with room for `capacity` = block_size tokens (so the last block can grow;
// attention streams that order fastest, see decoder::KvSpan). In kFull mode it aliases the read
// buffer, token-major as it came off the wire, and `capacity` is 0.
struct DecodeScheduler::LocalBlock {
  uint32_t index = 0;
  uint64_t first_token = 0;
  uint32_t num_tokens = 0;
  std::optional<kvclient::BlockKey> key;  // full blocks read from the manager
  std::shared_ptr<float> data;
  uint32_t capacity = 0;
};

namespace {

template <typename Block>
uint64_t Covered(const std::vector<Block>& blocks) {
  return blocks.empty() ? 0 : blocks.back().first_token + blocks.back().num_tokens;
}

}  // namespace

KvBlockArena& DecodeScheduler::Arena(uint32_t block_size) {
  const size_t slot_floats = size_t{block_size} * options_.model->kv_layout().TokenFloats();
  for (auto& arena : arenas_) {
    if (arena->slot_floats() == slot_floats) return *arena;
  }
  arenas_.push_back(std::make_unique<KvBlockArena>(slot_floats));
  return *arenas_.back();
}

DecodeScheduler::DecodeScheduler(const DecodeSchedulerOptions& options) : options_(options) {
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

  auto seq = std::make_unique<Sequence>();
  seq->input = input;
  seq->sink = sink;
  seq->sampler = decoder::Sampler(input.sampling);
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
  pending_.push_back(std::move(seq));
  ++active_count_;
  return absl::OkStatus();
}

absl::Status DecodeScheduler::Admit(Sequence& seq) {
  absl::StatusOr<kvclient::SequenceState> state =
      options_.cache->GetSequence(seq.input.sequence_id);
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
  seq.report.queue_us = common::Micros(absl::Now() - seq.queued_at);
  return absl::OkStatus();
}

absl::Status DecodeScheduler::Fetch(Sequence& seq) {
  if (options_.fetch == KvFetchMode::kFull || Covered(seq.blocks) != seq.position) {
    PDSERVE_RETURN_IF_ERROR(Read(seq));
  }
  seq.spans.clear();
  uint64_t covered = 0;
  for (const LocalBlock& b : seq.blocks) {
    if (b.first_token != covered) {
      return absl::DataLossError(absl::StrCat("sequence '", seq.input.sequence_id, "': block ",
                                              b.index, " starts at ", b.first_token,
                                              ", expected ", covered));
    }
    seq.spans.push_back({b.data.get(), b.num_tokens, b.capacity});
    covered += b.num_tokens;
  }
  if (covered != seq.position) {
    return absl::DataLossError(absl::StrCat("sequence '", seq.input.sequence_id, "': K/V covers ",
                                            covered, " tokens, expected ", seq.position));
  }
  return absl::OkStatus();
}

absl::Status DecodeScheduler::Read(Sequence& seq) {
  const decoder::KvLayout layout = options_.model->kv_layout();
  std::vector<kvclient::BlockKey> held;
  if (options_.fetch == KvFetchMode::kDelta) {
    for (const LocalBlock& b : seq.blocks) {
      if (b.key.has_value()) held.push_back(*b.key);
    }
  }
  absl::Time t0 = absl::Now();
  absl::StatusOr<kvclient::ReadResult> read =
      options_.cache->Read(seq.input.sequence_id, 0, held, layout);
  seq.report.kv_fetch_us += common::Micros(absl::Now() - t0);
  if (!read.ok()) return read.status();
  seq.report.kv_bytes_read += read->bytes;
  if (read->sequence_length != seq.position) {
    return absl::FailedPreconditionError(
        absl::StrCat("sequence '", seq.input.sequence_id, "' holds ", read->sequence_length,
                     " tokens, expected ", seq.position, " (another writer?)"));
  }
  if (seq.block_size != 0 && read->block_size != seq.block_size) {
    return absl::DataLossError(absl::StrCat("sequence '", seq.input.sequence_id,
                                            "': block size changed from ", seq.block_size, " to ",
                                            read->block_size));
  }
  seq.block_size = read->block_size;
  const bool keep = options_.fetch == KvFetchMode::kDelta && seq.block_size > 0;
  if (!keep) seq.blocks.clear();
  for (kvclient::KvBlock& block : read->blocks) {
    if (block.index > seq.blocks.size()) {
      return absl::DataLossError(absl::StrCat("sequence '", seq.input.sequence_id, "': block ",
                                              block.index, " arrived without its predecessors"));
    }
    if ((keep && block.num_tokens > seq.block_size) ||
        block.data->size() != size_t{block.num_tokens} * layout.TokenFloats()) {
      return absl::DataLossError(absl::StrCat("sequence '", seq.input.sequence_id, "': block ",
                                              block.index, " holds ", block.num_tokens,
                                              " tokens in ", block.data->size(),
                                              " floats; block size ", seq.block_size));
    }
    LocalBlock local{block.index, block.first_token, block.num_tokens, block.key, nullptr};
    if (keep) {
      // Kept for the sequence's lifetime: into a huge-page slot, with room to grow.
      local.data = Arena(seq.block_size).Allocate();
      local.capacity = seq.block_size;
      decoder::CopyToBlock(layout, block.data->data(), block.num_tokens, local.capacity, 0,
                           local.data.get());
    } else {
      local.data = std::shared_ptr<float>(block.data, const_cast<float*>(block.data->data()));
    }
    if (block.index == seq.blocks.size()) {
      seq.blocks.push_back(std::move(local));
    } else {
      seq.blocks[block.index] = std::move(local);
    }
  }
  return absl::OkStatus();
}

void DecodeScheduler::KeepAppended(Sequence& seq, absl::Span<const float> kv) {
  if (seq.blocks.empty() || seq.blocks.back().num_tokens >= seq.block_size) {
    LocalBlock block;
    block.index = static_cast<uint32_t>(seq.blocks.size());
    block.first_token = Covered(seq.blocks);
    block.data = Arena(seq.block_size).Allocate();
    block.capacity = seq.block_size;
    seq.blocks.push_back(std::move(block));
  }
  LocalBlock& last = seq.blocks.back();
  decoder::CopyToBlock(options_.model->kv_layout(), kv.data(), 1, last.capacity, last.num_tokens,
                       last.data.get());
  ++last.num_tokens;
}

void DecodeScheduler::FinishSequence(Sequence& seq, const absl::Status& status, StopReason reason,
                                     std::optional<EmittedToken> last) {
  if (!seq.input.keep_sequence) {
    // Best effort: an unreleased sequence is reclaimed by its lease.
    options_.cache->Release(seq.input.sequence_id).IgnoreError();
  }
  seq.sink->OnFinish(status, reason, seq.report, std::move(last));
  seq.sink = nullptr;
  absl::MutexLock lock(&mu_);
  --active_count_;
}

void DecodeScheduler::Loop() {
  std::vector<std::unique_ptr<Sequence>> batch;
  while (true) {
    std::vector<std::unique_ptr<Sequence>> joining;
    bool stop;
    {
      absl::MutexLock lock(&mu_);
      auto has_work = [this, &batch]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !pending_.empty() || !batch.empty();
      };
      mu_.Await(absl::Condition(&has_work));
      stop = stopping_;
      while (!pending_.empty() &&
             (stop || static_cast<int>(batch.size() + joining.size()) < options_.max_batch)) {
        joining.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
    }
    if (stop) {
      const absl::Status down = absl::UnavailableError("decode server is shutting down");
      for (auto& seq : batch) FinishSequence(*seq, down, StopReason::kLength);
      for (auto& seq : joining) FinishSequence(*seq, down, StopReason::kLength);
      return;
    }
    for (auto& seq : joining) {
      if (absl::Status s = Admit(*seq); !s.ok()) {
        seq->input.keep_sequence = true;  // not ours to release when admission fails
        FinishSequence(*seq, s, StopReason::kLength);
        continue;
      }
      batch.push_back(std::move(seq));
    }
    if (!batch.empty()) Step(batch);
  }
}

void DecodeScheduler::Step(std::vector<std::unique_ptr<Sequence>>& batch) {
  const decoder::Model& model = *options_.model;
  const absl::Time step_start = absl::Now();
  // Drop cancelled streams, then fetch each sequence's cumulative K/V.
  std::vector<std::unique_ptr<Sequence>> running;
  for (auto& seq : batch) {
    if (seq->sink->Cancelled()) {
      FinishSequence(*seq, absl::CancelledError("decode: client cancelled or deadline passed"),
                     StopReason::kLength);
      continue;
    }
    if (absl::Status s = Fetch(*seq); !s.ok()) {
      FinishSequence(*seq, s, StopReason::kLength);
      continue;
    }
    running.push_back(std::move(seq));
  }
  batch.clear();
  if (running.empty()) return;

  const decoder::KvLayout layout = model.kv_layout();
  const int vocab = model.config().vocab_size;
  std::vector<decoder::Model::DecodeItem> items;
  for (auto& seq : running) items.push_back({seq->last_token, seq->spans});
  std::vector<float> kv(running.size() * layout.TokenFloats());
  std::vector<float> logits(running.size() * vocab);
  std::vector<kvclient::AppendRequestItem> appends;
  for (size_t i = 0; i < running.size(); ++i) {
    appends.push_back({running[i]->input.sequence_id, running[i]->position,
                       {running[i]->last_token},
                       absl::MakeConstSpan(kv).subspan(i * layout.TokenFloats(),
                                                       layout.TokenFloats())});
  }
  // The append runs on append_worker_ from the moment the last layer's K/V is final, beside
  // the LM head; this step's tokens are emitted only once it has succeeded.
  absl::StatusOr<std::vector<absl::Status>> appended = absl::UnknownError("append not run");
  absl::Duration append_time;
  absl::Notification append_done;
  bool append_started = false;
  auto start_append = [&] {
    append_started = true;
    append_worker_.Submit([&] {
      const absl::Time start = absl::Now();
      appended = options_.cache->Append(appends);
      append_time = absl::Now() - start;
      append_done.Notify();
    });
  };
  const int last_layer = model.config().num_layers - 1;
  absl::Time t0 = absl::Now();
  absl::Status computed =
      model.DecodeStep(items, absl::MakeSpan(kv),
                       [&](int layer) {
                         if (layer == last_layer) start_append();
                       },
                       absl::MakeSpan(logits));
  absl::Time t1 = absl::Now();
  // DecodeStep reports every layer, so the append has started unless it failed validation.
  if (append_started) append_done.WaitForNotification();
  if (!computed.ok()) {
    for (auto& seq : running) FinishSequence(*seq, computed, StopReason::kLength);
    return;
  }

  for (size_t i = 0; i < running.size(); ++i) {
    Sequence& seq = *running[i];
    seq.report.decode_compute_us += common::Micros(t1 - t0);
    seq.report.append_us += common::Micros(append_time);
    absl::Status status = appended.ok() ? (*appended)[i] : appended.status();
    if (!status.ok()) {
      FinishSequence(seq, status, StopReason::kLength);
      running[i] = nullptr;
      continue;
    }
    seq.report.kv_bytes_written += layout.TokenFloats() * sizeof(float);
    if (options_.fetch == KvFetchMode::kDelta && seq.block_size > 0) {
      KeepAppended(seq, appends[i].kv);
    }
    ++seq.position;
    const int32_t token = seq.sampler.SampleAt(
        absl::MakeConstSpan(logits).subspan(i * vocab, vocab), seq.step_index);
    EmittedToken emitted{token, seq.step_index, options_.tokenizer->Decode({token})};
    ++seq.step_index;
    ++seq.produced;
    seq.last_token = token;
    if (seq.stops.contains(token)) {
      FinishSequence(seq, absl::OkStatus(), StopReason::kStop, std::move(emitted));
      running[i] = nullptr;
    } else if (seq.produced >= seq.input.max_new_tokens ||
               seq.position + 1 >= static_cast<uint64_t>(model.config().max_position_embeddings)) {
      FinishSequence(seq, absl::OkStatus(), StopReason::kLength, std::move(emitted));
      running[i] = nullptr;
    } else {
      seq.sink->OnToken(std::move(emitted));
    }
  }
  for (auto& seq : running) {
    if (seq != nullptr) batch.push_back(std::move(seq));
  }
  if (options_.on_step) options_.on_step(static_cast<int>(running.size()), absl::Now() - step_start);
}

}  // namespace pdserve::decode
