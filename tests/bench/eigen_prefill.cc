// The Eigen GEMM baseline, in a file of its own: GCC 12 reports -Wmaybe-uninitialized inside
// its own avx512fintrin.h (_mm512_undefined_ps, GCC bug 105593, fixed in GCC 13) wherever
// Eigen's AVX-512 GEBP kernel is inlined, so only this file is compiled without that warning
// (tests/bench/CMakeLists.txt).
#include "tests/bench/eigen_prefill.h"

#include <vector>

#include "Eigen/Core"

namespace pdserve::decoder {

struct EigenPrefill::Matrices {
  std::vector<Eigen::MatrixXf> x, w, y;
};

EigenPrefill::EigenPrefill(const ModelConfig& c, int64_t t)
    : layers_(c.num_layers), m_(std::make_unique<Matrices>()) {
  const int64_t q = int64_t{c.num_heads} * c.head_dim, kv = int64_t{c.num_kv_heads} * c.head_dim;
  const int64_t shapes[4][2] = {{c.hidden_size, q + 2 * kv},
                                {q, c.hidden_size},
                                {c.hidden_size, 2 * int64_t{c.intermediate_size}},
                                {c.intermediate_size, c.hidden_size}};
  for (const auto& s : shapes) {
    m_->x.push_back(Eigen::MatrixXf::Random(t, s[0]));
    m_->w.push_back(Eigen::MatrixXf::Random(s[0], s[1]));
    m_->y.push_back(Eigen::MatrixXf(t, s[1]));
  }
}

EigenPrefill::~EigenPrefill() = default;

void EigenPrefill::Run(internal::ThreadPool& pool) {
  for (int l = 0; l < layers_; ++l) {
    for (size_t i = 0; i < m_->x.size(); ++i) {
      pool.Run([&](int index, int count) {
        const int64_t n = m_->w[i].cols();
        const int64_t b = n * index / count, e = n * (index + 1) / count;
        m_->y[i].middleCols(b, e - b).noalias() = m_->x[i] * m_->w[i].middleCols(b, e - b);
      });
    }
  }
}

}  // namespace pdserve::decoder
