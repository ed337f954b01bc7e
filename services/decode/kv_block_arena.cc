// Huge-page slots for the decode server's local K/V blocks.
#include "services/decode/kv_block_arena.h"

#include <algorithm>

namespace pdserve::decode {

KvBlockArena::KvBlockArena(size_t slot_floats, size_t chunk_bytes)
    : slot_floats_(std::max<size_t>(slot_floats, 1)),
      slots_per_chunk_(std::max<size_t>(
          1, (chunk_bytes + slot_floats_ * sizeof(float) - 1) / (slot_floats_ * sizeof(float)))) {}

std::shared_ptr<float> KvBlockArena::Allocate() {
  absl::MutexLock lock(&mu_);
  if (free_.empty()) {
    chunks_.emplace_back(static_cast<int64_t>(slot_floats_ * slots_per_chunk_));
    float* base = chunks_.back().data();
    for (size_t i = slots_per_chunk_; i-- > 0;) free_.push_back(base + i * slot_floats_);
    slots_total_ += slots_per_chunk_;
  }
  float* slot = free_.back();
  free_.pop_back();
  return std::shared_ptr<float>(slot, [this](float* p) { Free(p); });
}

void KvBlockArena::Free(float* slot) {
  absl::MutexLock lock(&mu_);
  free_.push_back(slot);
}

size_t KvBlockArena::slots_in_use() const {
  absl::MutexLock lock(&mu_);
  return slots_total_ - free_.size();
}

size_t KvBlockArena::slots_total() const {
  absl::MutexLock lock(&mu_);
  return slots_total_;
}

KvBlockArena& KvBlockArenas::For(size_t slot_floats) {
  absl::MutexLock lock(&mu_);
  for (auto& arena : arenas_) {
    if (arena->slot_floats() == slot_floats) return *arena;
  }
  arenas_.push_back(std::make_unique<KvBlockArena>(slot_floats));
  return *arenas_.back();
}

}  // namespace pdserve::decode
