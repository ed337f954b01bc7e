// Retry classification and back-off growth.
#include "services/router/retry_policy.h"

#include "gtest/gtest.h"

namespace pdserve::router {
namespace {

TEST(RetryPolicyTest, BadRequestsAreNeverRetried) {
  EXPECT_TRUE(IsPermanent(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(IsPermanent(absl::StatusCode::kPermissionDenied));
  EXPECT_FALSE(IsPermanent(absl::StatusCode::kUnavailable));
  EXPECT_FALSE(IsPermanent(absl::StatusCode::kNotFound));  // a lost sequence is recoverable
  EXPECT_TRUE(IsPermanentBeforeFirstToken(absl::StatusCode::kResourceExhausted));
  EXPECT_FALSE(IsPermanentBeforeFirstToken(absl::StatusCode::kUnavailable));
}

TEST(RetryPolicyTest, BackoffStartsAtZeroDoublesAndIsCapped) {
  RouterOptions options;
  options.initial_backoff = absl::Milliseconds(50);
  options.max_backoff = absl::Milliseconds(300);
  EXPECT_EQ(RetryBackoff(options, 1), absl::ZeroDuration());
  EXPECT_EQ(RetryBackoff(options, 2), absl::Milliseconds(50));
  EXPECT_EQ(RetryBackoff(options, 3), absl::Milliseconds(100));
  EXPECT_EQ(RetryBackoff(options, 4), absl::Milliseconds(200));
  EXPECT_EQ(RetryBackoff(options, 5), absl::Milliseconds(300));
  EXPECT_EQ(RetryBackoff(options, 60), absl::Milliseconds(300));
}

}  // namespace
}  // namespace pdserve::router
