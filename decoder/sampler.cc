// Deterministic sampling.
#include "decoder/sampler.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"

namespace pdserve::decoder {
namespace {

uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// NaN logits never win.
float Clean(float x) { return std::isnan(x) ? -INFINITY : x; }

int32_t Argmax(absl::Span<const float> logits) {
  int32_t best = 0;
  float best_v = Clean(logits[0]);
  for (size_t i = 1; i < logits.size(); ++i) {
    const float v = Clean(logits[i]);
    if (v > best_v) {
      best_v = v;
      best = static_cast<int32_t>(i);
    }
  }
  return best;
}

}  // namespace

double UniformForTest(uint64_t seed, uint64_t step) {
  const uint64_t bits = Mix(Mix(seed + 0x9E3779B97F4A7C15ull) ^ (step * 0xD1B54A32D192ED03ull));
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

absl::Status Validate(const SamplingParams& p) {
  if (!(p.temperature >= 0.0f) || std::isinf(p.temperature)) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature must be a finite number >= 0, got ", p.temperature));
  }
  if (p.top_k < 0) {
    return absl::InvalidArgumentError(absl::StrCat("top_k must be >= 0, got ", p.top_k));
  }
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("top_p must be in (0, 1], got ", p.top_p));
  }
  return absl::OkStatus();
}

int32_t Sampler::SampleAt(absl::Span<const float> logits, uint64_t step) const {
  if (params_.temperature == 0.0f || params_.top_k == 1) return Argmax(logits);
  const int64_t v = static_cast<int64_t>(logits.size());
  // Candidates ordered by (logit desc, id asc), cut to top_k.
  std::vector<int32_t> ids(v);
  for (int64_t i = 0; i < v; ++i) ids[i] = static_cast<int32_t>(i);
  auto before = [&](int32_t a, int32_t b) {
    const float la = Clean(logits[a]), lb = Clean(logits[b]);
    return la > lb || (la == lb && a < b);
  };
  int64_t keep = v;
  if (params_.top_k > 0 && params_.top_k < v) {
    keep = params_.top_k;
    std::partial_sort(ids.begin(), ids.begin() + keep, ids.end(), before);
  } else if (params_.top_p < 1.0f) {
    std::sort(ids.begin(), ids.end(), before);
  }
  // Without a top-p cut the order within the kept set does not matter for correctness, but it
  // is deterministic either way.
  const double max_logit = Clean(logits[Argmax(logits)]);
  const double inv_t = 1.0 / params_.temperature;
  std::vector<double> weights(keep);
  double total = 0.0;
  for (int64_t i = 0; i < keep; ++i) {
    weights[i] = std::exp((Clean(logits[ids[i]]) - max_logit) * inv_t);
    total += weights[i];
  }
  if (params_.top_p < 1.0f) {
    // Candidates are sorted here; keep the smallest prefix whose mass reaches top_p.
    const double target = params_.top_p * total;
    double cum = 0.0;
    int64_t n = 0;
    while (n < keep) {
      cum += weights[n++];
      if (cum >= target) break;
    }
    keep = n;
    total = cum;
  }
  const double u = UniformForTest(params_.seed, step) * total;
  double cum = 0.0;
  for (int64_t i = 0; i < keep; ++i) {
    cum += weights[i];
    if (u < cum) return ids[i];
  }
  return ids[keep - 1];
}

}  // namespace pdserve::decoder
