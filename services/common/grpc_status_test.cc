// Tests that status conversion keeps code and message both ways.
#include "services/common/grpc_status.h"

#include "gtest/gtest.h"

namespace pdserve::common {
namespace {

TEST(GrpcStatusTest, RoundTripsCodeAndMessage) {
  absl::Status s = absl::ResourceExhaustedError("capacity: 10 of 10 blocks pinned");
  grpc::Status g = ToGrpcStatus(s);
  EXPECT_EQ(g.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(g.error_message(), "capacity: 10 of 10 blocks pinned");
  EXPECT_EQ(FromGrpcStatus(g), s);
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(GrpcStatusTest, AnnotateKeepsCode) {
  absl::Status s = Annotate(absl::NotFoundError("sequence_id: 'x' unknown"), "cache manager");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "cache manager: sequence_id: 'x' unknown");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "x").ok());
}

}  // namespace
}  // namespace pdserve::common
