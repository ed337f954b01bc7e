// A single self-overwriting progress line on stderr, shown only when stderr is a terminal.
#ifndef PDSERVE_TESTS_BENCH_PDBENCH_PROGRESS_H_
#define PDSERVE_TESTS_BENCH_PDBENCH_PROGRESS_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace pdserve::bench {

// Not thread-safe: call from one thread.
class ProgressLine {
 public:
  ProgressLine();  // enabled iff stderr is a tty

  // "done/total (failed failed), rate/s, elapsed"; total <= 0 means open-ended.
  void Update(int64_t done, int64_t failed, int64_t total);
  // Ends the line (newline) if anything was printed.
  void Finish();

  bool enabled() const { return enabled_; }

 private:
  bool enabled_;
  bool printed_ = false;
  absl::Time start_;
};

}  // namespace pdserve::bench

#endif  // PDSERVE_TESTS_BENCH_PDBENCH_PROGRESS_H_
