// BlockPool: capacity accounting, allocation, reference counting and the LRU of cached blocks.
#include "cache_manager/block_pool.h"

#include <new>
#include <utility>

#include "absl/strings/str_cat.h"

namespace pdserve::cache_manager::internal {

BlockPool::BlockPool(uint64_t capacity_bytes, uint32_t block_size)
    : capacity_bytes_(capacity_bytes), block_size_(block_size) {}

BlockPool::~BlockPool() {
  for (Block* block : all_) delete block;
}

absl::Status BlockPool::Allocate(const Namespace& ns, uint64_t count,
                                 absl::FunctionRef<void(Block*)> on_evict,
                                 std::vector<Block*>* out, std::vector<BlockBuffer>* garbage) {
  if (count == 0) return absl::OkStatus();
  const uint64_t needed = count * ns.block_bytes;
  if (count > capacity_bytes_ / ns.block_bytes || needed > free_bytes() + cached_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "KV cache full: need ", needed, " bytes (", count, " blocks of ", ns.block_bytes,
        " bytes for namespace '", ns.name, "'), capacity ", capacity_bytes_, ", used ",
        used_bytes_, ", pinned ", used_bytes_ - cached_bytes_, ", evictable ", cached_bytes_));
  }
  std::vector<BlockBuffer> reusable;
  while (free_bytes() < needed) {
    Block* victim = lru_head_;
    on_evict(victim);
    victim->indexed = false;
    ++evictions_;
    if (victim->bytes == ns.block_bytes) {
      reusable.push_back(std::move(victim->data));
    }
    Delete(victim, garbage);
  }
  const size_t first_new = out->size();
  for (uint64_t i = 0; i < count; ++i) {
    BlockBuffer data;
    if (!reusable.empty()) {
      data = std::move(reusable.back());
      reusable.pop_back();
    } else {
      data.reset(new (std::nothrow) std::byte[ns.block_bytes]);
      if (data == nullptr) {
        for (size_t j = first_new; j < out->size(); ++j) Delete((*out)[j], garbage);
        out->resize(first_new);
        return absl::ResourceExhaustedError(
            absl::StrCat("out of memory allocating a block of ", ns.block_bytes, " bytes"));
      }
    }
    Block* block = new Block;
    block->ns = &ns;
    block->uid = next_uid_++;
    block->bytes = ns.block_bytes;
    block->data = std::move(data);
    block->refs = 1;
    block->state = BlockState::kInFlight;
    used_bytes_ += block->bytes;
    ++num_blocks_;
    ++counts_[static_cast<int>(BlockState::kInFlight)];
    all_.insert(block);
    out->push_back(block);
  }
  for (BlockBuffer& buffer : reusable) garbage->push_back(std::move(buffer));
  return absl::OkStatus();
}

void BlockPool::Ref(Block* block) {
  if (block->state == BlockState::kCached) {
    LruRemove(block);
    SetState(block, BlockState::kPinned);
  }
  ++block->refs;
}

void BlockPool::Unref(Block* block, std::vector<BlockBuffer>* garbage) {
  if (--block->refs > 0) return;
  if (block->indexed) {
    SetState(block, BlockState::kCached);
    LruPushNewest(block);
  } else {
    Delete(block, garbage);
  }
}

void BlockPool::SetState(Block* block, BlockState state) {
  --counts_[static_cast<int>(block->state)];
  ++counts_[static_cast<int>(state)];
  block->state = state;
}

void BlockPool::SetValidTokens(Block* block, uint32_t num_tokens) {
  valid_bytes_ -= block->num_tokens * block->ns->token_bytes;
  block->num_tokens = num_tokens;
  valid_bytes_ += block->num_tokens * block->ns->token_bytes;
}

uint64_t BlockPool::overhead_bytes() const {
  // Per block: the record, its token ids and two allocator chunk headers; plus the slot of the
  // all-blocks set. Page rounding of mmap-served buffers is not visible here (the bench
  // measures resident memory directly).
  constexpr uint64_t kMallocHeader = 16;
  const uint64_t per_block = sizeof(Block) + block_size_ * sizeof(int32_t) + 2 * kMallocHeader +
                             sizeof(Block*) + 1;
  return num_blocks_ * per_block;
}

void BlockPool::LruPushNewest(Block* block) {
  block->lru_prev = lru_tail_;
  block->lru_next = nullptr;
  if (lru_tail_ != nullptr) {
    lru_tail_->lru_next = block;
  } else {
    lru_head_ = block;
  }
  lru_tail_ = block;
  cached_bytes_ += block->bytes;
}

void BlockPool::LruRemove(Block* block) {
  if (block->lru_prev != nullptr) {
    block->lru_prev->lru_next = block->lru_next;
  } else {
    lru_head_ = block->lru_next;
  }
  if (block->lru_next != nullptr) {
    block->lru_next->lru_prev = block->lru_prev;
  } else {
    lru_tail_ = block->lru_prev;
  }
  block->lru_prev = block->lru_next = nullptr;
  cached_bytes_ -= block->bytes;
}

void BlockPool::Delete(Block* block, std::vector<BlockBuffer>* garbage) {
  if (block->state == BlockState::kCached) LruRemove(block);
  --counts_[static_cast<int>(block->state)];
  used_bytes_ -= block->bytes;
  valid_bytes_ -= block->num_tokens * block->ns->token_bytes;
  --num_blocks_;
  all_.erase(block);
  if (block->data != nullptr) garbage->push_back(std::move(block->data));
  delete block;
}

}  // namespace pdserve::cache_manager::internal
