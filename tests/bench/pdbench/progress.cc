// Terminal progress line (see progress.h).
#include "tests/bench/pdbench/progress.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace pdserve::bench {

ProgressLine::ProgressLine() : enabled_(isatty(STDERR_FILENO) == 1), start_(absl::Now()) {}

void ProgressLine::Update(int64_t done, int64_t failed, int64_t total) {
  if (!enabled_) return;
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start_);
  const double rate = elapsed > 0 ? done / elapsed : 0;
  std::string line =
      total > 0 ? absl::StrFormat("%d/%d (%.0f%%)", done, total, 100.0 * done / total)
                : absl::StrFormat("%d", done);
  absl::StrAppendFormat(&line, "  failed %d  %.1f/s  %.1f s", failed, rate, elapsed);
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
  printed_ = true;
}

void ProgressLine::Finish() {
  if (printed_) std::fprintf(stderr, "\n");
  printed_ = false;
}

}  // namespace pdserve::bench
