// decoder_bench's GEMM baseline: the linear layers of a prefill as plain Eigen matrix products.
#ifndef PDSERVE_TESTS_BENCH_EIGEN_PREFILL_H_
#define PDSERVE_TESTS_BENCH_EIGEN_PREFILL_H_

#include <cstdint>
#include <memory>

#include "decoder/config.h"
#include "decoder/thread_pool.h"

namespace pdserve::decoder {

// The linear layers of a T-token prefill done with plain Eigen GEMMs (all layers), output
// columns split across the pool's threads. Not thread-safe.
class EigenPrefill {
 public:
  EigenPrefill(const ModelConfig& c, int64_t t);
  ~EigenPrefill();
  void Run(internal::ThreadPool& pool);

 private:
  struct Matrices;
  int layers_;
  std::unique_ptr<Matrices> m_;
};

}  // namespace pdserve::decoder

#endif  // PDSERVE_TESTS_BENCH_EIGEN_PREFILL_H_
