// ReadSnapshot: moving and releasing the pins of a read.
#include "cache_manager/read_snapshot.h"

#include <utility>

#include "cache_manager/kv_cache_manager.h"

namespace pdserve::cache_manager {

ReadSnapshot::ReadSnapshot(ReadSnapshot&& other) noexcept { *this = std::move(other); }

ReadSnapshot& ReadSnapshot::operator=(ReadSnapshot&& other) noexcept {
  if (this != &other) {
    Reset();
    manager_ = std::exchange(other.manager_, nullptr);
    sequence_length_ = other.sequence_length_;
    block_size_ = other.block_size_;
    token_bytes_ = other.token_bytes_;
    views_ = std::move(other.views_);
    pins_ = std::move(other.pins_);
    other.views_.clear();
    other.pins_.clear();
  }
  return *this;
}

ReadSnapshot::~ReadSnapshot() { Reset(); }

void ReadSnapshot::Reset() {
  if (manager_ != nullptr && !pins_.empty()) manager_->Unpin(pins_);
  pins_.clear();
  views_.clear();
  manager_ = nullptr;
}

}  // namespace pdserve::cache_manager
