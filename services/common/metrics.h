// Prometheus metrics: counters, gauges and histograms in a registry that renders the text
// exposition format (version 0.0.4).
#ifndef PDSERVE_SERVICES_COMMON_METRICS_H_
#define PDSERVE_SERVICES_COMMON_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace pdserve::common {

// All metric types are thread-safe; updates are lock-free except Histogram::Observe.
class Counter {
 public:
  void Add(double v = 1) { value_.fetch_add(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: ascending upper bounds of the buckets (the +Inf bucket is implicit).
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v) ABSL_LOCKS_EXCLUDED(mu_);
  // Appends the _bucket/_sum/_count lines for metric `name`.
  void Render(const std::string& name, std::string* out) const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t Count() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const std::vector<double> bounds_;
  mutable absl::Mutex mu_;
  std::vector<uint64_t> counts_ ABSL_GUARDED_BY(mu_);  // bounds_.size() + 1 (last is +Inf)
  double sum_ ABSL_GUARDED_BY(mu_) = 0;
};

// Latency buckets in seconds, 100 us .. 60 s.
std::vector<double> LatencyBucketsSeconds();
// Small-integer buckets (batch sizes, queue lengths): 1, 2, 4, ... 1024.
std::vector<double> SizeBuckets();

// Thread-safe. Metric objects live as long as the registry; names follow Prometheus rules
// (pdserve_<part>_<what>[_unit]).
class MetricsRegistry {
 public:
  Counter* AddCounter(const std::string& name, const std::string& help) ABSL_LOCKS_EXCLUDED(mu_);
  Gauge* AddGauge(const std::string& name, const std::string& help) ABSL_LOCKS_EXCLUDED(mu_);
  Histogram* AddHistogram(const std::string& name, const std::string& help,
                          std::vector<double> bounds) ABSL_LOCKS_EXCLUDED(mu_);
  // A gauge whose value is read from `fn` at render time (e.g. from a stats snapshot).
  void AddCallbackGauge(const std::string& name, const std::string& help,
                        std::function<double()> fn) ABSL_LOCKS_EXCLUDED(mu_);
  // An info metric: renders `name{labels} 1`. `labels` is Prometheus label text, e.g.
  // kernels="avx512".
  void AddInfo(const std::string& name, const std::string& help, const std::string& labels)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Runs before every render, e.g. to refresh many callback values from one snapshot.
  void AddCollectHook(std::function<void()> hook) ABSL_LOCKS_EXCLUDED(mu_);

  std::string Render() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    std::string name, help, type;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> callback;
    std::string info_labels;  // set for AddInfo entries
  };
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> hooks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pdserve::common

#endif  // PDSERVE_SERVICES_COMMON_METRICS_H_
