// A 64-byte aligned, zero-initialized float array (weights and scratch).
#ifndef PDSERVE_DECODER_ALIGNED_BUFFER_H_
#define PDSERVE_DECODER_ALIGNED_BUFFER_H_

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace pdserve::decoder::internal {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  // Allocates `n` zeroed floats. Aborts on out-of-memory like operator new.
  explicit AlignedBuffer(int64_t n) : size_(n) {
    if (n == 0) return;
    const size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes);
    if (p == nullptr) std::abort();
    std::memset(p, 0, bytes);
    data_.reset(static_cast<float*>(p));
  }
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  int64_t size() const { return size_; }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> data_;
  int64_t size_ = 0;
};

}  // namespace pdserve::decoder::internal

#endif  // PDSERVE_DECODER_ALIGNED_BUFFER_H_
