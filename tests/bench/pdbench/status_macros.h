// Status propagation macros for pdbench (Abseil 20220623 has no ABSL_RETURN_IF_ERROR).
#ifndef PDSERVE_TESTS_BENCH_PDBENCH_STATUS_MACROS_H_
#define PDSERVE_TESTS_BENCH_PDBENCH_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns the status from the enclosing function if `expr` is not OK.
#define PDBENCH_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    if (absl::Status pdbench_status_ = (expr); !pdbench_status_.ok()) { \
      return pdbench_status_;                          \
    }                                                  \
  } while (false)

#define PDBENCH_CONCAT_INNER_(a, b) a##b
#define PDBENCH_CONCAT_(a, b) PDBENCH_CONCAT_INNER_(a, b)

// `lhs` = value of the StatusOr `expr`, or returns its status from the enclosing function.
#define PDBENCH_ASSIGN_OR_RETURN(lhs, expr) \
  PDBENCH_ASSIGN_OR_RETURN_IMPL_(PDBENCH_CONCAT_(pdbench_statusor_, __LINE__), lhs, expr)
#define PDBENCH_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return tmp.status();                   \
  lhs = std::move(tmp).value()

#endif  // PDSERVE_TESTS_BENCH_PDBENCH_STATUS_MACROS_H_
