// KvCacheManager's write paths: BeginWrite (prefill), AppendBatch (decode), and the shared
// reserve / fill-outside-the-lock / publish-and-seal sequence they both follow.
#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "cache_manager/block_key.h"
#include "cache_manager/kv_cache_manager.h"

namespace pdserve::cache_manager {

using internal::Block;
using internal::BlockState;
using internal::PendingWrite;
using internal::Sequence;

namespace {

uint64_t CeilDiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

}  // namespace

absl::StatusOr<PendingWrite> KvCacheManager::StartWriteLocked(Sequence* seq,
                                                              uint64_t expected_offset,
                                                              uint64_t num_tokens,
                                                              absl::Span<const int32_t> appended,
                                                              Garbage* garbage) {
  if (seq->writer_active) {
    return absl::FailedPreconditionError(
        absl::StrCat("sequence '", seq->id, "' has another writer active"));
  }
  if (expected_offset != seq->committed) {
    return absl::FailedPreconditionError(
        absl::StrCat("expected_offset is ", expected_offset, " but sequence '", seq->id,
                     "' has committed length ", seq->committed));
  }
  const uint32_t bs = options_.block_size;
  PendingWrite write;
  write.sequence_id = seq->id;
  write.ns = seq->ns;
  write.block_size = bs;
  write.begin = expected_offset;
  write.end = expected_offset + num_tokens;
  write.first_block = expected_offset / bs;
  write.has_tail = expected_offset % bs != 0;
  write.hashed_end = expected_offset;
  if (write.has_tail) write.targets.push_back(seq->blocks.back());
  const uint64_t new_blocks = CeilDiv(write.end, bs) - CeilDiv(expected_offset, bs);
  absl::Status s = pool_.Allocate(
      *seq->ns, new_blocks,
      [this](Block* victim) {
        mu_.AssertHeld();  // called synchronously by Allocate, under this lock
        index_.Erase(victim);
      },
      &write.targets, garbage);
  if (!s.ok()) return s;
  if (write.has_tail) pool_.Ref(write.targets.front());
  write.appended_token_ids.assign(appended.begin(), appended.end());
  seq->writer_active = true;
  RenewLeaseLocked(seq);
  return write;
}

void KvCacheManager::DropWriteLocked(PendingWrite& write, Garbage* garbage) {
  for (Block* block : write.targets) pool_.Unref(block, garbage);
  write.targets.clear();
  auto it = sequences_.find(write.sequence_id);
  if (it != sequences_.end()) {
    it->second->writer_active = false;
    RenewLeaseLocked(it->second.get());
  }
}

void KvCacheManager::DropWrite(PendingWrite& write) {
  Garbage garbage;
  MutexLock lock(&mu_);
  bytes_in_ += write.bytes_written;
  DropWriteLocked(write, &garbage);
}

absl::StatusOr<uint64_t> KvCacheManager::FinishWrite(PendingWrite& write) {
  Garbage garbage;
  MutexLock lock(&mu_);
  return FinishWriteLocked(write, &garbage);
}

absl::StatusOr<uint64_t> KvCacheManager::FinishWriteLocked(PendingWrite& write,
                                                           Garbage* garbage) {
  bytes_in_ += write.bytes_written;
  auto it = sequences_.find(write.sequence_id);
  if (it == sequences_.end()) {
    DropWriteLocked(write, garbage);
    return absl::NotFoundError(absl::StrCat("sequence_id '", write.sequence_id,
                                            "' was released before the write committed"));
  }
  Sequence* seq = it->second.get();
  // The writer guard kept the committed length and the block table as they were at the start.
  seq->token_ids.insert(seq->token_ids.end(), write.appended_token_ids.begin(),
                        write.appended_token_ids.end());
  for (size_t j = 0; j < write.targets.size(); ++j) {
    Block* block = write.targets[j];
    pool_.SetValidTokens(block, write.ValidTokens(j));
    block->checksum = write.checksums[j];
    if (j == 0 && write.has_tail) {
      pool_.Unref(block, garbage);  // the writer's pin; the sequence keeps its reference
    } else {
      pool_.SetState(block, BlockState::kPartial);
      seq->blocks.push_back(block);  // the writer's reference becomes the sequence's
    }
  }
  seq->committed = write.end;
  for (size_t j = 0; j < write.targets.size(); ++j) {
    if (write.ValidTokens(j) == options_.block_size) {
      SealLocked(seq, write.first_block + j, garbage);
    }
  }
  write.targets.clear();
  seq->writer_active = false;
  RenewLeaseLocked(seq);
  return seq->committed;
}

void KvCacheManager::SealLocked(Sequence* seq, size_t block_index, Garbage* garbage) {
  const uint32_t bs = options_.block_size;
  Block* block = seq->blocks[block_index];
  const Block* parent = block_index == 0 ? nullptr : seq->blocks[block_index - 1];
  const absl::Span<const int32_t> tokens =
      absl::MakeConstSpan(seq->token_ids).subspan(block_index * bs, bs);
  pool_.SetState(block, BlockState::kPinned);
  block->key = ComputeBlockKey(parent == nullptr ? kRootBlockKey : parent->key, tokens,
                               seq->ns->name);
  block->parent_uid = parent == nullptr ? 0 : parent->uid;
  block->token_ids.assign(tokens.begin(), tokens.end());
  // A block after an unindexed one (a hash collision upstream) is unreachable by lookups.
  if (parent != nullptr && !parent->indexed) return;
  Block* existing = index_.FindKey(block->key);
  if (existing == nullptr) {
    index_.Insert(block);
  } else if (existing == index_.Find(block->key, seq->ns, block->parent_uid, tokens)) {
    // Same content is already stored: share it and free the duplicate (or leave it to the
    // readers that still pin it).
    pool_.Ref(existing);
    seq->blocks[block_index] = existing;
    pool_.Unref(block, garbage);
  }
  // Otherwise a 128-bit collision: keep this block private and unindexed.
}

absl::StatusOr<std::unique_ptr<WriteSession>> KvCacheManager::BeginWrite(
    absl::string_view sequence_id, uint64_t expected_offset, uint64_t num_tokens) {
  Garbage garbage;
  MutexLock lock(&mu_);
  absl::StatusOr<Sequence*> seq = FindSequenceLocked(sequence_id);
  if (!seq.ok()) return seq.status();
  const uint64_t known = (*seq)->token_ids.size();
  if (num_tokens == 0 || num_tokens > known || expected_offset > known - num_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_tokens ", num_tokens, " from expected_offset ", expected_offset,
                     " is empty or passes the ", known, " known tokens of sequence '",
                     sequence_id, "'"));
  }
  absl::StatusOr<PendingWrite> write =
      StartWriteLocked(*seq, expected_offset, num_tokens, {}, &garbage);
  if (!write.ok()) return write.status();
  return absl::WrapUnique(new WriteSession(this, *std::move(write)));
}

absl::StatusOr<AppendResult> KvCacheManager::StartAppendLocked(const AppendItem& item,
                                                               PendingWrite* write,
                                                               Garbage* garbage) {
  absl::StatusOr<Sequence*> seq = FindSequenceLocked(item.sequence_id);
  if (!seq.ok()) return seq.status();
  Sequence* s = *seq;
  if (s->committed < s->token_ids.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("sequence '", s->id, "' has committed ", s->committed, " of its ",
                     s->prompt_tokens, " prompt tokens; append only after the prompt"));
  }
  if (item.token_ids.size() > options_.max_sequence_tokens - s->token_ids.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token_ids has ", item.token_ids.size(), " tokens; sequence '", s->id, "' has ",
        s->token_ids.size(), " of max ", options_.max_sequence_tokens));
  }
  const uint64_t want = item.token_ids.size() * s->ns->token_bytes;
  if (item.data.size() != want) {
    return absl::InvalidArgumentError(
        absl::StrCat("data is ", item.data.size(), " bytes; want ", item.token_ids.size(),
                     " tokens x ", s->ns->token_bytes, " bytes = ", want));
  }
  absl::StatusOr<PendingWrite> started = StartWriteLocked(
      s, item.expected_offset, item.token_ids.size(), item.token_ids, garbage);
  if (!started.ok()) return started.status();
  *write = *std::move(started);
  return AppendResult{absl::OkStatus(), s->committed};
}

absl::StatusOr<std::vector<AppendResult>> KvCacheManager::AppendBatch(
    absl::Span<const AppendItem> items) {
  if (items.empty() || items.size() > options_.max_append_items) {
    return absl::InvalidArgumentError(absl::StrCat("items has ", items.size(), " entries; want 1..",
                                                   options_.max_append_items));
  }
  absl::flat_hash_map<absl::string_view, size_t> seen;
  for (size_t i = 0; i < items.size(); ++i) {
    auto [it, inserted] = seen.emplace(items[i].sequence_id, i);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat("items[", i, "].sequence_id '", items[i].sequence_id,
                       "' duplicates items[", it->second, "]"));
    }
  }
  std::vector<AppendResult> results(items.size());
  std::vector<PendingWrite> writes(items.size());
  std::vector<bool> started(items.size(), false);
  for (size_t i = 0; i < items.size(); ++i) {
    const AppendItem& item = items[i];
    if (item.token_ids.empty()) {
      results[i].status = absl::InvalidArgumentError("token_ids is empty; want >= 1 token");
    }
    for (size_t t = 0; t < item.token_ids.size() && results[i].status.ok(); ++t) {
      if (item.token_ids[t] < 0) {
        results[i].status = absl::InvalidArgumentError(
            absl::StrCat("token_ids[", t, "] is ", item.token_ids[t], "; want >= 0"));
      }
    }
  }
  {  // Phase 1: validate against the sequences, reserve blocks, take writer guards.
    Garbage garbage;
    MutexLock lock(&mu_);
    for (size_t i = 0; i < items.size(); ++i) {
      if (!results[i].status.ok()) continue;
      absl::StatusOr<AppendResult> r = StartAppendLocked(items[i], &writes[i], &garbage);
      if (r.ok()) {
        started[i] = true;
        results[i] = *r;
      } else {
        results[i].status = r.status();
        auto it = sequences_.find(items[i].sequence_id);
        if (it != sequences_.end()) results[i].num_tokens = it->second->committed;
      }
    }
  }
  // Phase 2, no lock: copy the bytes and checksum the blocks.
  for (size_t i = 0; i < items.size(); ++i) {
    if (!started[i]) continue;
    const PendingWrite& w = writes[i];
    const absl::Span<const std::byte> data[] = {items[i].data};
    internal::CopyIntoTargets(writes[i], w.begin, w.end - w.begin, 0, w.ns->layout.num_layers,
                              data);
    internal::FinishChecksums(writes[i]);
  }
  {  // Phase 3: publish.
    Garbage garbage;
    MutexLock lock(&mu_);
    for (size_t i = 0; i < items.size(); ++i) {
      if (!started[i]) continue;
      absl::StatusOr<uint64_t> length = FinishWriteLocked(writes[i], &garbage);
      if (length.ok()) {
        results[i].num_tokens = *length;
      } else {
        results[i].status = length.status();
      }
    }
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (!results[i].status.ok()) {
      results[i].status = absl::Status(
          results[i].status.code(), absl::StrCat("items[", i, "]: ", results[i].status.message()));
    }
  }
  return results;
}

}  // namespace pdserve::cache_manager
