// Status propagation macros and invariant checks (Abseil 20220623 has neither absl/log nor
// ABSL_RETURN_IF_ERROR). Header-only; used by every pdserve library.
#ifndef PDSERVE_SERVICES_COMMON_STATUS_MACROS_H_
#define PDSERVE_SERVICES_COMMON_STATUS_MACROS_H_

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

#define PDSERVE_CONCAT_INNER_(a, b) a##b
#define PDSERVE_CONCAT_(a, b) PDSERVE_CONCAT_INNER_(a, b)

// `PDSERVE_ASSIGN_OR_RETURN(auto x, MakeX());` assigns the value of an absl::StatusOr or
// returns its status from the enclosing function.
#define PDSERVE_ASSIGN_OR_RETURN(lhs, expr) \
  PDSERVE_ASSIGN_OR_RETURN_IMPL_(PDSERVE_CONCAT_(pdserve_statusor_, __LINE__), lhs, expr)
#define PDSERVE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()

// Aborts with a message when an internal invariant is broken. Never for input validation.
#define PDSERVE_CHECK(cond)                                                      \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                              \
    }                                                                            \
  } while (0)

#endif  // PDSERVE_SERVICES_COMMON_STATUS_MACROS_H_
