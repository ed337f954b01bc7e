// Bearer-token auth across the whole stack: every server started with --auth_token refuses calls
// without it (UNAUTHENTICATED) or with another token (PERMISSION_DENIED), and the servers attach
// it to their own calls, so a Generate carrying the token runs through router, prefill, decode
// and cache manager and gives the reference tokens.
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "decoder/generate.h"
#include "decoder/model.h"
#include "gtest/gtest.h"
#include "tests/integration/local_stack.h"

namespace pdserve::testing {
namespace {

namespace inf = ::pdserve::inference::v1;
namespace kv = ::pdserve::kvcache::v1;

constexpr char kToken[] = "s3cret";

// "" sends no authorization header.
void Authorize(grpc::ClientContext* context, const std::string& token) {
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  context->set_deadline(Deadline(60));
}

class AuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    StackOptions options;
    options.router = true;
    options.common_flags = {std::string("--auth_token=") + kToken};
    auto stack = LocalStack::Start(options);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = stack->release();
  }
  static void TearDownTestSuite() { delete stack_; }

  static grpc::Status Generate(const std::string& token, std::vector<int32_t>* tokens) {
    inf::GenerateRequest request;
    for (int32_t t : {5, 9, 14, 200, 31}) request.add_prompt_token_ids(t);
    request.mutable_limits()->set_max_new_tokens(8);
    request.mutable_limits()->set_ignore_eos(true);
    auto stub = stack_->RouterStub();
    grpc::ClientContext context;
    Authorize(&context, token);
    auto reader = stub->Generate(&context, request);
    inf::GenerateResponse message;
    while (reader->Read(&message)) {
      tokens->insert(tokens->end(), message.token_ids().begin(), message.token_ids().end());
    }
    return reader->Finish();
  }

  static LocalStack* stack_;
};

LocalStack* AuthTest::stack_ = nullptr;

TEST_F(AuthTest, RouterRefusesMissingOrWrongTokensAndServesTheRightOne) {
  std::vector<int32_t> tokens;
  grpc::Status anonymous = Generate("", &tokens);
  EXPECT_EQ(anonymous.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(anonymous.error_message().find("authorization"), std::string::npos)
      << anonymous.error_message();
  grpc::Status wrong = Generate("guess", &tokens);
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(wrong.error_message().find("authorization"), std::string::npos)
      << wrong.error_message();
  EXPECT_TRUE(tokens.empty());

  grpc::Status right = Generate(kToken, &tokens);
  ASSERT_TRUE(right.ok()) << right.error_message();
  auto model = decoder::Model::Load("synthetic:tiny");
  ASSERT_TRUE(model.ok()) << model.status();
  decoder::StopCondition stop;
  stop.max_new_tokens = 8;
  auto reference = decoder::Generate(**model, {5, 9, 14, 200, 31}, decoder::SamplingParams{}, stop);
  ASSERT_TRUE(reference.ok()) << reference.status();
  EXPECT_EQ(tokens, reference->tokens);
}

TEST_F(AuthTest, PrefillAndDecodeRefuseMissingOrWrongTokens) {
  for (const std::string& token : {std::string(), std::string("guess")}) {
    const grpc::StatusCode expected = token.empty() ? grpc::StatusCode::UNAUTHENTICATED
                                                    : grpc::StatusCode::PERMISSION_DENIED;
    inf::PrefillRequest prefill;
    prefill.add_prompt_token_ids(5);
    inf::PrefillResponse prefilled;
    grpc::ClientContext prefill_context;
    Authorize(&prefill_context, token);
    EXPECT_EQ(stack_->PrefillStub()->Prefill(&prefill_context, prefill, &prefilled).error_code(),
              expected)
        << "prefill, token '" << token << "'";

    inf::DecodeRequest decode;
    decode.set_sequence_id("any");
    decode.set_last_token_id(5);
    decode.set_position(1);
    decode.mutable_limits()->set_max_new_tokens(1);
    auto stub = stack_->DecodeStub(0);
    grpc::ClientContext decode_context;
    Authorize(&decode_context, token);
    auto reader = stub->Decode(&decode_context, decode);
    inf::DecodeResponse message;
    while (reader->Read(&message)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), expected) << "decode, token '" << token << "'";
  }
  // The refused prefills created nothing in the manager.
  kv::GetStatsResponse stats;
  grpc::ClientContext context;
  Authorize(&context, kToken);
  ASSERT_TRUE(stack_->CacheStub()->GetStats(&context, kv::GetStatsRequest(), &stats).ok());
  EXPECT_EQ(stats.sequences(), 0u);
}

}  // namespace
}  // namespace pdserve::testing
