// A 64-byte aligned, zero-initialized float array (weights, K/V and scratch). Arrays of 2 MiB
// and more are 2 MiB aligned and advised onto transparent huge pages: the model's kernels stream
// through hundreds of megabytes per step, and attention reads K/V a token (24 KiB on
// synthetic:bench) apart, which with 4 KiB pages costs a TLB miss per token.
#ifndef PDSERVE_DECODER_ALIGNED_BUFFER_H_
#define PDSERVE_DECODER_ALIGNED_BUFFER_H_

#include <sys/mman.h>

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
    constexpr size_t kHugePage = size_t{2} << 20;
    const size_t raw = static_cast<size_t>(n) * sizeof(float);
    const size_t align = raw >= kHugePage ? kHugePage : 64;
    const size_t bytes = (raw + align - 1) / align * align;
    void* p = std::aligned_alloc(align, bytes);
    if (p == nullptr) std::abort();
    // Before the first touch, so the pages are faulted in huge (THP "madvise" mode). Advice
    // only: without THP the buffer is simply on small pages.
    if (align == kHugePage) madvise(p, bytes, MADV_HUGEPAGE);
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
