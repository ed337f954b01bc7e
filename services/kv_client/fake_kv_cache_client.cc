// FakeKvCacheClient.
#include "services/kv_client/fake_kv_cache_client.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"

namespace pdserve::kvclient {

void FakeKvCacheClient::AddSequence(const std::string& id, std::vector<int32_t> tokens,
                                    std::vector<float> kv, uint32_t block_size,
                                    uint64_t committed) {
  absl::MutexLock lock(&mu_);
  FakeSequence& seq = sequences_[id];
  seq.prompt_tokens = tokens.size();
  seq.tokens = std::move(tokens);
  seq.kv = std::move(kv);
  seq.block_size = block_size;
  seq.committed = committed;
  seq.key_salt = next_salt_++;
}

void FakeKvCacheClient::HoldReads(const std::string& id) {
  absl::MutexLock lock(&mu_);
  held_reads_.insert(id);
}

void FakeKvCacheClient::OpenReads(const std::string& id) {
  absl::MutexLock lock(&mu_);
  held_reads_.erase(id);
}

void FakeKvCacheClient::FailReads(const std::string& id, absl::Status status) {
  absl::MutexLock lock(&mu_);
  failed_reads_[id] = std::move(status);
}

void FakeKvCacheClient::TruncateReads(const std::string& id) {
  absl::MutexLock lock(&mu_);
  truncated_reads_.insert(id);
}

void FakeKvCacheClient::FailAppends(const std::string& id, absl::Status status) {
  absl::MutexLock lock(&mu_);
  failed_appends_[id] = std::move(status);
}

int FakeKvCacheClient::reads_waiting() const {
  absl::MutexLock lock(&mu_);
  return reads_waiting_;
}

bool FakeKvCacheClient::WaitForReadsWaiting(int n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto waiting = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return reads_waiting_ >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&waiting), timeout);
}

int FakeKvCacheClient::reads_cancelled() const {
  absl::MutexLock lock(&mu_);
  return reads_cancelled_;
}

std::vector<std::string> FakeKvCacheClient::released() const {
  absl::MutexLock lock(&mu_);
  return released_;
}

std::vector<int32_t> FakeKvCacheClient::tokens(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = sequences_.find(id);
  return it == sequences_.end() ? std::vector<int32_t>() : it->second.tokens;
}

int FakeKvCacheClient::blocks_sent() const {
  absl::MutexLock lock(&mu_);
  return blocks_sent_;
}

absl::StatusOr<CreatedSequence> FakeKvCacheClient::CreateSequence(const std::string&,
                                                                  const decoder::KvLayout&,
                                                                  absl::Span<const int32_t>,
                                                                  absl::Duration) {
  return absl::UnimplementedError("FakeKvCacheClient: CreateSequence");
}

absl::StatusOr<std::unique_ptr<PromptWriter>> FakeKvCacheClient::BeginWrite(
    const std::string&, const decoder::KvLayout&, uint64_t, uint64_t) {
  return absl::UnimplementedError("FakeKvCacheClient: BeginWrite");
}

absl::StatusOr<std::vector<absl::Status>> FakeKvCacheClient::Append(
    absl::Span<const AppendRequestItem> items) {
  absl::MutexLock lock(&mu_);
  std::vector<absl::Status> results;
  for (const AppendRequestItem& item : items) {
    if (auto f = failed_appends_.find(item.sequence_id); f != failed_appends_.end()) {
      results.push_back(f->second);
      continue;
    }
    auto it = sequences_.find(item.sequence_id);
    if (it == sequences_.end()) {
      results.push_back(absl::NotFoundError(absl::StrCat("sequence '", item.sequence_id, "'")));
      continue;
    }
    FakeSequence& seq = it->second;
    if (item.expected_offset != seq.committed ||
        item.kv.size() != item.token_ids.size() * layout_.TokenFloats()) {
      results.push_back(absl::FailedPreconditionError(
          absl::StrCat("expected_offset: ", item.expected_offset, ", sequence holds ",
                       seq.committed)));
      continue;
    }
    seq.tokens.insert(seq.tokens.end(), item.token_ids.begin(), item.token_ids.end());
    seq.kv.insert(seq.kv.end(), item.kv.begin(), item.kv.end());
    seq.committed += item.token_ids.size();
    results.push_back(absl::OkStatus());
  }
  return results;
}

absl::StatusOr<ReadResult> FakeKvCacheClient::Read(const std::string& sequence_id,
                                                   uint64_t from_token,
                                                   absl::Span<const BlockKey> held,
                                                   const decoder::KvLayout& layout,
                                                   CallCanceller* cancel) {
  if (layout != layout_) return absl::InvalidArgumentError("FakeKvCacheClient: layout");
  auto aborted = std::make_shared<std::atomic<bool>>(false);
  {
    // The abort sets a flag, then takes and drops mu_: absl::Mutex re-evaluates a waiter's
    // condition on every unlock, so the wait below sees the flag. (Lock order: canceller, then
    // mu_; mu_ is never held while the canceller's lock is taken.)
    CallCanceller::Registration abort(cancel, [this, aborted] {
      aborted->store(true);
      absl::MutexLock lock(&mu_);
    });
    absl::MutexLock lock(&mu_);
    if (held_reads_.contains(sequence_id) && !aborted->load()) {
      ++reads_waiting_;
      auto released = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !held_reads_.contains(sequence_id) || aborted->load();
      };
      mu_.Await(absl::Condition(&released));
      --reads_waiting_;
    }
    if (aborted->load()) {
      ++reads_cancelled_;
      return absl::CancelledError("FakeKvCacheClient: read cancelled");
    }
  }
  absl::MutexLock lock(&mu_);
  if (auto f = failed_reads_.find(sequence_id); f != failed_reads_.end()) return f->second;
  auto it = sequences_.find(sequence_id);
  if (it == sequences_.end()) {
    return absl::NotFoundError(absl::StrCat("sequence '", sequence_id, "'"));
  }
  const FakeSequence& seq = it->second;
  if (seq.block_size == 0) return absl::InternalError("FakeKvCacheClient: block size 0");
  ReadResult result;
  result.sequence_length = seq.committed;
  result.block_size = seq.block_size;
  const int64_t token_floats = layout_.TokenFloats();
  const uint64_t bs = seq.block_size;
  for (uint64_t first = (from_token / bs) * bs; first < seq.committed; first += bs) {
    const uint32_t index = static_cast<uint32_t>(first / bs);
    const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(bs, seq.committed - first));
    KvBlock block;
    block.index = index;
    block.first_token = first;
    block.num_tokens = n;
    if (n == bs) block.key = BlockKey{seq.key_salt, index};
    if (block.key.has_value() &&
        std::find(held.begin(), held.end(), *block.key) != held.end()) {
      continue;
    }
    block.data = std::make_shared<const std::vector<float>>(
        seq.kv.begin() + first * token_floats, seq.kv.begin() + (first + n) * token_floats);
    result.bytes += block.data->size() * sizeof(float);
    result.blocks.push_back(std::move(block));
  }
  if (truncated_reads_.contains(sequence_id) && !result.blocks.empty()) result.blocks.pop_back();
  blocks_sent_ += static_cast<int>(result.blocks.size());
  return result;
}

absl::Status FakeKvCacheClient::Release(const std::string& sequence_id) {
  absl::MutexLock lock(&mu_);
  released_.push_back(sequence_id);
  if (sequences_.erase(sequence_id) == 0) {
    return absl::NotFoundError(absl::StrCat("sequence '", sequence_id, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SequenceState> FakeKvCacheClient::GetSequence(const std::string& sequence_id,
                                                             CallCanceller* cancel) {
  if (cancel != nullptr && cancel->cancelled()) {
    return absl::CancelledError("FakeKvCacheClient: GetSequence cancelled");
  }
  absl::MutexLock lock(&mu_);
  auto it = sequences_.find(sequence_id);
  if (it == sequences_.end()) {
    return absl::NotFoundError(absl::StrCat("sequence '", sequence_id, "'"));
  }
  SequenceState state;
  state.num_tokens = it->second.committed;
  state.prompt_tokens = it->second.prompt_tokens;
  state.token_ids = it->second.tokens;
  return state;
}

}  // namespace pdserve::kvclient
