// Status propagation and invariant macros for decoder/ (Abseil 20220623 has neither).
#ifndef PDSERVE_DECODER_STATUS_MACROS_H_
#define PDSERVE_DECODER_STATUS_MACROS_H_

#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define PDSERVE_RETURN_IF_ERROR(expr)                 \
  do {                                                \
    ::absl::Status pdserve_status_ = (expr);          \
    if (!pdserve_status_.ok()) return pdserve_status_; \
  } while (0)

#define PDSERVE_STATUS_CONCAT_INNER_(a, b) a##b
#define PDSERVE_STATUS_CONCAT_(a, b) PDSERVE_STATUS_CONCAT_INNER_(a, b)

// `lhs = value of expr`, or returns its status. `lhs` may declare a variable.
#define PDSERVE_ASSIGN_OR_RETURN(lhs, expr)                                    \
  PDSERVE_ASSIGN_OR_RETURN_IMPL_(PDSERVE_STATUS_CONCAT_(pdserve_or_, __LINE__), \
                                 lhs, expr)
#define PDSERVE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()

// Internal invariant (a bug if false, never bad input): prints and aborts.
#define PDSERVE_CHECK(cond)                                               \
  do {                                                                    \
    if (!(cond)) {                                                        \
      std::fprintf(stderr, "%s:%d CHECK failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                \
      std::abort();                                                       \
    }                                                                     \
  } while (0)

#endif  // PDSERVE_DECODER_STATUS_MACROS_H_
