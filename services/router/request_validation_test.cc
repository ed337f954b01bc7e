// PrepareGenerateRequest: every bad input the router sees gets its precise status.
#include "services/router/request_validation.h"

#include <cmath>

#include "gtest/gtest.h"

namespace pdserve::router {
namespace {

using inference::v1::GenerateRequest;

class RequestValidationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<ModelInfo> model = LoadModelInfo("synthetic:tiny");
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *model;
  }
  static GenerateRequest Good() {
    GenerateRequest request;
    request.add_prompt_token_ids(1);
    request.add_prompt_token_ids(100);
    request.mutable_limits()->set_max_new_tokens(8);
    return request;
  }
  absl::StatusCode Code(const GenerateRequest& request) {
    return PrepareGenerateRequest(request, model_, 4096).status().code();
  }
  std::string Message(const GenerateRequest& request) {
    return std::string(PrepareGenerateRequest(request, model_, 4096).status().message());
  }
  ModelInfo model_;
};

TEST_F(RequestValidationTest, AcceptsAGoodRequest) {
  EXPECT_TRUE(PrepareGenerateRequest(Good(), model_, 4096).ok());
  GenerateRequest named = Good();
  named.set_model("synthetic:tiny");
  EXPECT_TRUE(PrepareGenerateRequest(named, model_, 4096).ok());
}

TEST_F(RequestValidationTest, UnknownModelIsNotFound) {
  GenerateRequest request = Good();
  request.set_model("llama-70b");
  EXPECT_EQ(Code(request), absl::StatusCode::kNotFound);
  EXPECT_NE(Message(request).find("llama-70b"), std::string::npos);
}

TEST_F(RequestValidationTest, EmptyOrDoublePromptIsInvalid) {
  GenerateRequest empty = Good();
  empty.clear_prompt_token_ids();
  EXPECT_EQ(Code(empty), absl::StatusCode::kInvalidArgument);
  GenerateRequest both = Good();
  both.set_prompt_text("hello");
  EXPECT_EQ(Code(both), absl::StatusCode::kInvalidArgument);
}

TEST_F(RequestValidationTest, TokenOutsideTheVocabularyIsInvalid) {
  GenerateRequest request = Good();
  request.add_prompt_token_ids(512);
  EXPECT_EQ(Code(request), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Message(request).find("prompt_token_ids[2]"), std::string::npos);
  GenerateRequest negative = Good();
  negative.set_prompt_token_ids(0, -1);
  EXPECT_EQ(Code(negative), absl::StatusCode::kInvalidArgument);
}

TEST_F(RequestValidationTest, PromptLongerThanTheContextIsInvalid) {
  GenerateRequest request = Good();
  for (int i = 0; i < 4096; ++i) request.add_prompt_token_ids(5);
  EXPECT_EQ(Code(request), absl::StatusCode::kInvalidArgument);
  GenerateRequest no_room = Good();
  for (int i = 0; i < 4090; ++i) no_room.add_prompt_token_ids(5);
  no_room.mutable_limits()->set_max_new_tokens(100);
  EXPECT_EQ(Code(no_room), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Message(no_room).find("limits.max_new_tokens"), std::string::npos);
}

TEST_F(RequestValidationTest, MaxNewTokensZeroOrAbsurdIsInvalid) {
  GenerateRequest zero = Good();
  zero.mutable_limits()->set_max_new_tokens(0);
  EXPECT_EQ(Code(zero), absl::StatusCode::kInvalidArgument);
  GenerateRequest absurd = Good();
  absurd.mutable_limits()->set_max_new_tokens(4000000000u);
  EXPECT_EQ(Code(absurd), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Message(absurd).find("limits.max_new_tokens"), std::string::npos);
}

TEST_F(RequestValidationTest, BadSamplingIsInvalid) {
  GenerateRequest temperature = Good();
  temperature.mutable_sampling()->set_temperature(-0.5f);
  EXPECT_EQ(Code(temperature), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Message(temperature).find("sampling.temperature"), std::string::npos);
  GenerateRequest nan = Good();
  nan.mutable_sampling()->set_temperature(std::nanf(""));
  EXPECT_EQ(Code(nan), absl::StatusCode::kInvalidArgument);
  for (float top_p : {0.0f, -0.1f, 1.5f}) {
    GenerateRequest request = Good();
    request.mutable_sampling()->set_top_p(top_p);
    EXPECT_EQ(Code(request), absl::StatusCode::kInvalidArgument) << top_p;
  }
  GenerateRequest top_p_one = Good();
  top_p_one.mutable_sampling()->set_top_p(1.0f);
  EXPECT_TRUE(PrepareGenerateRequest(top_p_one, model_, 4096).ok());
  GenerateRequest top_k = Good();
  top_k.mutable_sampling()->set_top_k(-1);
  EXPECT_EQ(Code(top_k), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Message(top_k).find("sampling.top_k"), std::string::npos);
}

TEST_F(RequestValidationTest, TextBecomesTokenIds) {
  GenerateRequest request;
  request.set_prompt_text("ab");
  request.mutable_limits()->set_max_new_tokens(1);
  absl::StatusOr<GenerateRequest> prepared = PrepareGenerateRequest(request, model_, 4096);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  EXPECT_TRUE(prepared->prompt_text().empty());
  ASSERT_EQ(prepared->prompt_token_ids_size(), 2);
  EXPECT_EQ(prepared->prompt_token_ids(0), 3 + 'a');
}

}  // namespace
}  // namespace pdserve::router
