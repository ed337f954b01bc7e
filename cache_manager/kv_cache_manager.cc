// KvCacheManager: creation, sequences' lifecycle (create, release, leases), reads, lookup, stats.
// The write paths (BeginWrite, AppendBatch, commit, sealing) are in kv_cache_manager_write.cc.
#include "cache_manager/kv_cache_manager.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cache_manager/block_key.h"

namespace pdserve::cache_manager {

using internal::Block;
using internal::BlockState;
using internal::Sequence;

absl::StatusOr<std::unique_ptr<KvCacheManager>> KvCacheManager::Create(
    const KvCacheManagerOptions& options) {
  if (options.capacity_bytes == 0) {
    return absl::InvalidArgumentError("capacity_bytes is 0; want > 0");
  }
  if (options.block_size == 0 || options.block_size > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("block_size is ", options.block_size, "; want 1..1024"));
  }
  if (options.default_lease_ttl <= absl::ZeroDuration() ||
      options.max_lease_ttl < options.default_lease_ttl) {
    return absl::InvalidArgumentError(absl::StrCat(
        "default_lease_ttl is ", absl::FormatDuration(options.default_lease_ttl),
        " and max_lease_ttl ", absl::FormatDuration(options.max_lease_ttl),
        "; want 0 < default <= max"));
  }
  if (options.max_sequence_tokens == 0 || options.max_sequences == 0 ||
      options.max_append_items == 0) {
    return absl::InvalidArgumentError(
        "max_sequence_tokens, max_sequences and max_append_items must be > 0");
  }
  return absl::WrapUnique(new KvCacheManager(options));
}

KvCacheManager::KvCacheManager(const KvCacheManagerOptions& options)
    : options_(options),
      clock_(options.clock != nullptr ? options.clock : RealClock()),
      pool_(options.capacity_bytes, options.block_size) {}

KvCacheManager::~KvCacheManager() = default;  // the pool deletes every block

absl::StatusOr<Sequence*> KvCacheManager::FindSequenceLocked(
    absl::string_view sequence_id) const {
  auto it = sequences_.find(sequence_id);
  if (it == sequences_.end()) {
    return absl::NotFoundError(
        absl::StrCat("sequence_id '", sequence_id, "' not found (unknown or released)"));
  }
  return it->second.get();
}

void KvCacheManager::RenewLeaseLocked(Sequence* seq) {
  seq->lease_expiry = clock_->Now() + seq->lease_ttl;
}

absl::StatusOr<CreateSequenceResult> KvCacheManager::CreateSequence(
    absl::string_view model_namespace, const KvLayout& layout, absl::Span<const int32_t> prompt,
    absl::Duration lease_ttl) {
  if (model_namespace.empty() || model_namespace.size() > options_.max_namespace_length) {
    return absl::InvalidArgumentError(absl::StrCat("model_namespace has ", model_namespace.size(),
                                                   " bytes; want 1..",
                                                   options_.max_namespace_length));
  }
  if (absl::Status s = layout.Validate(); !s.ok()) return s;
  if (prompt.empty() || prompt.size() > options_.max_sequence_tokens) {
    return absl::InvalidArgumentError(absl::StrCat("token_ids has ", prompt.size(),
                                                   " tokens; want 1..",
                                                   options_.max_sequence_tokens));
  }
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("token_ids[", i, "] is ", prompt[i], "; want >= 0"));
    }
  }
  if (lease_ttl < absl::ZeroDuration() || lease_ttl > options_.max_lease_ttl) {
    return absl::InvalidArgumentError(absl::StrCat("lease_ttl is ", absl::FormatDuration(lease_ttl),
                                                   "; want 0 (default) .. ",
                                                   absl::FormatDuration(options_.max_lease_ttl)));
  }
  if (lease_ttl == absl::ZeroDuration()) lease_ttl = options_.default_lease_ttl;

  // Hash the chain before locking. Only whole blocks before the last prompt token can match.
  const uint32_t bs = options_.block_size;
  const size_t matchable = (prompt.size() - 1) / bs * bs;
  const std::vector<BlockKey> keys =
      ComputeKeyChain(prompt.subspan(0, matchable), bs, model_namespace);

  MutexLock lock(&mu_);
  auto ns_it = namespaces_.find(model_namespace);
  if (ns_it != namespaces_.end() && ns_it->second->layout != layout) {
    return absl::InvalidArgumentError(absl::StrCat(
        "layout ", layout.ToString(), " for model_namespace '", model_namespace,
        "' differs from its registered layout ", ns_it->second->layout.ToString()));
  }
  if (sequences_.size() >= options_.max_sequences) {
    return absl::ResourceExhaustedError(
        absl::StrCat("sequence limit reached: ", sequences_.size(), " live sequences of max ",
                     options_.max_sequences));
  }
  if (ns_it == namespaces_.end()) {
    auto ns = std::make_unique<internal::Namespace>();
    ns->name = std::string(model_namespace);
    ns->layout = layout;
    ns->token_bytes = layout.TokenBytes();
    ns->block_bytes = ns->token_bytes * bs;
    ns_it = namespaces_.emplace(ns->name, std::move(ns)).first;
  }
  const internal::Namespace* ns = ns_it->second.get();

  auto seq = std::make_unique<Sequence>();
  do {
    seq->id = absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(rng_),
                              absl::Uniform<uint64_t>(rng_));
  } while (sequences_.contains(seq->id));
  seq->ns = ns;
  seq->token_ids.assign(prompt.begin(), prompt.end());
  seq->prompt_tokens = prompt.size();
  seq->lease_ttl = lease_ttl;
  RenewLeaseLocked(seq.get());
  seq->blocks = index_.MatchPrefix(ns, prompt, bs, keys);
  for (Block* block : seq->blocks) pool_.Ref(block);
  seq->committed = seq->blocks.size() * bs;
  prefix_lookup_tokens_ += prompt.size();
  prefix_hit_tokens_ += seq->committed;

  CreateSequenceResult result{seq->id, seq->committed, lease_ttl};
  sequences_.emplace(seq->id, std::move(seq));
  return result;
}

absl::StatusOr<ReadSnapshot> KvCacheManager::Read(
    absl::string_view sequence_id, uint64_t from_token,
    const absl::flat_hash_set<BlockKey>& held_keys) {
  MutexLock lock(&mu_);
  absl::StatusOr<Sequence*> seq = FindSequenceLocked(sequence_id);
  if (!seq.ok()) return seq.status();
  Sequence* s = *seq;
  RenewLeaseLocked(s);
  if (from_token > s->committed) {
    return absl::OutOfRangeError(absl::StrCat("from_token ", from_token,
                                              " is past the length ", s->committed,
                                              " of sequence '", sequence_id, "'"));
  }
  ReadSnapshot snapshot;
  snapshot.manager_ = this;
  snapshot.sequence_length_ = s->committed;
  snapshot.block_size_ = options_.block_size;
  snapshot.token_bytes_ = s->ns->token_bytes;
  const size_t first_block =
      from_token == s->committed ? s->blocks.size() : from_token / options_.block_size;
  for (size_t i = first_block; i < s->blocks.size(); ++i) {
    Block* block = s->blocks[i];
    if (block->indexed && held_keys.contains(block->key)) continue;
    BlockView view;
    view.block_index = i;
    view.first_token = i * options_.block_size;
    view.num_tokens = block->num_tokens;
    view.has_key = block->indexed;
    if (block->indexed) view.key = block->key;
    view.checksum = block->checksum;
    view.data = absl::MakeConstSpan(block->data.get(), block->num_tokens * s->ns->token_bytes);
    bytes_out_ += view.data.size();
    pool_.Ref(block);
    snapshot.pins_.push_back(block);
    snapshot.views_.push_back(view);
  }
  return snapshot;
}

void KvCacheManager::Unpin(absl::Span<Block* const> blocks) {
  Garbage garbage;  // destroyed after the lock is released
  MutexLock lock(&mu_);
  for (Block* block : blocks) pool_.Unref(block, &garbage);
}

void KvCacheManager::ReleaseLocked(Sequence* seq, Garbage* garbage) {
  // Newest block first, so that on the LRU a chain's tail is older than its head and is evicted
  // first: evicting a head would strand its descendants.
  for (auto it = seq->blocks.rbegin(); it != seq->blocks.rend(); ++it) {
    pool_.Unref(*it, garbage);
  }
  seq->blocks.clear();
  sequences_.erase(seq->id);  // deletes seq
}

absl::StatusOr<uint64_t> KvCacheManager::Release(absl::string_view sequence_id) {
  Garbage garbage;
  MutexLock lock(&mu_);
  absl::StatusOr<Sequence*> seq = FindSequenceLocked(sequence_id);
  if (!seq.ok()) return seq.status();
  const uint64_t length = (*seq)->committed;
  ReleaseLocked(*seq, &garbage);
  return length;
}

absl::StatusOr<SequenceInfo> KvCacheManager::GetSequence(absl::string_view sequence_id) {
  MutexLock lock(&mu_);
  absl::StatusOr<Sequence*> seq = FindSequenceLocked(sequence_id);
  if (!seq.ok()) return seq.status();
  Sequence* s = *seq;
  RenewLeaseLocked(s);
  return SequenceInfo{s->id,        s->ns->name,   s->ns->layout, s->committed,
                      s->prompt_tokens, s->token_ids, s->lease_ttl};
}

absl::StatusOr<uint64_t> KvCacheManager::Lookup(absl::string_view model_namespace,
                                                absl::Span<const int32_t> token_ids) const {
  if (model_namespace.empty()) {
    return absl::InvalidArgumentError("model_namespace is empty");
  }
  if (token_ids.empty() || token_ids.size() > options_.max_sequence_tokens) {
    return absl::InvalidArgumentError(absl::StrCat("token_ids has ", token_ids.size(),
                                                   " tokens; want 1..",
                                                   options_.max_sequence_tokens));
  }
  const std::vector<BlockKey> keys =
      ComputeKeyChain(token_ids, options_.block_size, model_namespace);
  MutexLock lock(&mu_);
  auto ns_it = namespaces_.find(model_namespace);
  if (ns_it == namespaces_.end()) return 0;
  return index_.MatchPrefix(ns_it->second.get(), token_ids, options_.block_size, keys).size() *
         uint64_t{options_.block_size};
}

CacheStats KvCacheManager::Stats() const {
  MutexLock lock(&mu_);
  CacheStats stats;
  stats.capacity_bytes = pool_.capacity_bytes();
  stats.used_bytes = pool_.used_bytes();
  stats.free_bytes = pool_.free_bytes();
  stats.valid_bytes = pool_.valid_bytes();
  uint64_t sequence_bytes = 0;
  for (const auto& [id, seq] : sequences_) {
    sequence_bytes += sizeof(Sequence) + id.capacity() + seq->id.capacity() +
                      seq->token_ids.capacity() * sizeof(int32_t) +
                      seq->blocks.capacity() * sizeof(Block*);
  }
  stats.overhead_bytes = pool_.overhead_bytes() + index_.overhead_bytes() + sequence_bytes;
  stats.block_size = options_.block_size;
  stats.blocks_in_flight = pool_.count(BlockState::kInFlight);
  stats.blocks_partial = pool_.count(BlockState::kPartial);
  stats.blocks_pinned = pool_.count(BlockState::kPinned);
  stats.blocks_cached = pool_.count(BlockState::kCached);
  stats.cached_bytes = pool_.cached_bytes();
  stats.sequences = sequences_.size();
  stats.namespaces = namespaces_.size();
  stats.prefix_lookup_tokens = prefix_lookup_tokens_;
  stats.prefix_hit_tokens = prefix_hit_tokens_;
  stats.prefix_hit_ratio = prefix_lookup_tokens_ == 0
                               ? 0.0
                               : static_cast<double>(prefix_hit_tokens_) / prefix_lookup_tokens_;
  stats.evictions = pool_.evictions();
  stats.bytes_in = bytes_in_;
  stats.bytes_out = bytes_out_;
  stats.leases_expired = leases_expired_;
  return stats;
}

int KvCacheManager::ReapExpired() {
  Garbage garbage;
  MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  std::vector<Sequence*> expired;
  for (const auto& [id, seq] : sequences_) {
    if (!seq->writer_active && seq->lease_expiry <= now) expired.push_back(seq.get());
  }
  for (Sequence* seq : expired) ReleaseLocked(seq, &garbage);
  leases_expired_ += expired.size();
  return static_cast<int>(expired.size());
}

}  // namespace pdserve::cache_manager
