// Prometheus metrics registry and text rendering.
#include "services/common/metrics.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace pdserve::common {
namespace {

std::string FormatValue(double v) { return absl::StrFormat("%.17g", v); }

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  absl::MutexLock lock(&mu_);
  ++counts_[i];
  sum_ += v;
}

uint64_t Histogram::Count() const {
  absl::MutexLock lock(&mu_);
  uint64_t total = 0;
  for (uint64_t c : counts_) total += c;
  return total;
}

void Histogram::Render(const std::string& name, std::string* out) const {
  absl::MutexLock lock(&mu_);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    absl::StrAppend(out, name, "_bucket{le=\"", FormatValue(bounds_[i]), "\"} ", cumulative, "\n");
  }
  cumulative += counts_.back();
  absl::StrAppend(out, name, "_bucket{le=\"+Inf\"} ", cumulative, "\n");
  absl::StrAppend(out, name, "_sum ", FormatValue(sum_), "\n");
  absl::StrAppend(out, name, "_count ", cumulative, "\n");
}

std::vector<double> LatencyBucketsSeconds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};
}

std::vector<double> SizeBuckets() { return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}; }

Counter* MetricsRegistry::AddCounter(const std::string& name, const std::string& help) {
  auto entry = std::make_unique<Entry>();
  entry->name = name;
  entry->help = help;
  entry->type = "counter";
  entry->counter = std::make_unique<Counter>();
  Counter* result = entry->counter.get();
  absl::MutexLock lock(&mu_);
  entries_.push_back(std::move(entry));
  return result;
}

Gauge* MetricsRegistry::AddGauge(const std::string& name, const std::string& help) {
  auto entry = std::make_unique<Entry>();
  entry->name = name;
  entry->help = help;
  entry->type = "gauge";
  entry->gauge = std::make_unique<Gauge>();
  Gauge* result = entry->gauge.get();
  absl::MutexLock lock(&mu_);
  entries_.push_back(std::move(entry));
  return result;
}

Histogram* MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                         std::vector<double> bounds) {
  auto entry = std::make_unique<Entry>();
  entry->name = name;
  entry->help = help;
  entry->type = "histogram";
  entry->histogram = std::make_unique<Histogram>(std::move(bounds));
  Histogram* result = entry->histogram.get();
  absl::MutexLock lock(&mu_);
  entries_.push_back(std::move(entry));
  return result;
}

void MetricsRegistry::AddCallbackGauge(const std::string& name, const std::string& help,
                                       std::function<double()> fn) {
  auto entry = std::make_unique<Entry>();
  entry->name = name;
  entry->help = help;
  entry->type = "gauge";
  entry->callback = std::move(fn);
  absl::MutexLock lock(&mu_);
  entries_.push_back(std::move(entry));
}

void MetricsRegistry::AddInfo(const std::string& name, const std::string& help,
                              const std::string& labels) {
  auto entry = std::make_unique<Entry>();
  entry->name = name;
  entry->help = help;
  entry->type = "gauge";
  entry->info_labels = labels;
  absl::MutexLock lock(&mu_);
  entries_.push_back(std::move(entry));
}

void MetricsRegistry::AddCollectHook(std::function<void()> hook) {
  absl::MutexLock lock(&mu_);
  hooks_.push_back(std::move(hook));
}

std::string MetricsRegistry::Render() const {
  absl::MutexLock lock(&mu_);
  for (const auto& hook : hooks_) hook();
  std::string out;
  for (const auto& e : entries_) {
    absl::StrAppend(&out, "# HELP ", e->name, " ", e->help, "\n# TYPE ", e->name, " ", e->type,
                    "\n");
    if (e->counter) absl::StrAppend(&out, e->name, " ", FormatValue(e->counter->Value()), "\n");
    if (e->gauge) absl::StrAppend(&out, e->name, " ", FormatValue(e->gauge->Value()), "\n");
    if (e->callback) absl::StrAppend(&out, e->name, " ", FormatValue(e->callback()), "\n");
    if (e->histogram) e->histogram->Render(e->name, &out);
    if (!e->info_labels.empty()) absl::StrAppend(&out, e->name, "{", e->info_labels, "} 1\n");
  }
  return out;
}

}  // namespace pdserve::common
