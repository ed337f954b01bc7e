// The decode server's two K/V fetch modes against real processes: both give the in-process
// reference's tokens, `delta` reads the manager only when it admits a sequence (afterwards it
// extends its copy with the K/V the manager acknowledged), `full` re-reads every step.
#include <memory>
#include <string>
#include <vector>

#include "decoder/generate.h"
#include "decoder/model.h"
#include "gtest/gtest.h"
#include "tests/integration/local_stack.h"

namespace pdserve::testing {
namespace {

namespace inf = ::pdserve::inference::v1;

constexpr int kPromptTokens = 21;   // one full 16-token block and a partial one
constexpr int kDecodeTokens = 40;   // crosses two more block boundaries during decode

struct Decoded {
  std::vector<int32_t> tokens;  // the prefill's first token, then the decode's
  inf::HopReport report;        // the decode call's
};

Decoded PrefillThenDecode(LocalStack& stack, const std::vector<int32_t>& prompt) {
  Decoded out;
  auto prefill = stack.PrefillStub();
  inf::PrefillRequest request;
  request.mutable_prompt_token_ids()->Add(prompt.begin(), prompt.end());
  inf::PrefillResponse prefilled;
  grpc::ClientContext context;
  context.set_deadline(Deadline(60));
  grpc::Status status = prefill->Prefill(&context, request, &prefilled);
  EXPECT_TRUE(status.ok()) << status.error_message();
  if (!status.ok()) return out;
  out.tokens.push_back(prefilled.first_token_id());
  inf::DecodeRequest decode;
  decode.set_sequence_id(prefilled.sequence_id());
  decode.set_last_token_id(prefilled.first_token_id());
  decode.set_position(prefilled.prompt_tokens());
  decode.set_step_index(1);
  decode.mutable_limits()->set_max_new_tokens(kDecodeTokens);
  decode.mutable_limits()->set_ignore_eos(true);
  auto stub = stack.DecodeStub(0);
  DecodeRun run = RunDecode(stub.get(), decode);
  EXPECT_TRUE(run.status.ok()) << run.status.error_message();
  out.tokens.insert(out.tokens.end(), run.tokens.begin(), run.tokens.end());
  out.report = run.last.report();
  return out;
}

class KvFetchModeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(KvFetchModeTest, GivesTheReferenceTokensAndReadsWhatTheModeSays) {
  StackOptions options;
  options.decode_flags = {"--kv_fetch=" + GetParam()};
  auto stack = LocalStack::Start(options);
  ASSERT_TRUE(stack.ok()) << stack.status();
  auto model = decoder::Model::Load("synthetic:tiny");
  ASSERT_TRUE(model.ok()) << model.status();
  const int64_t token_bytes = (*model)->kv_layout().TokenFloats() * sizeof(float);

  std::vector<int32_t> prompt(kPromptTokens);
  for (int i = 0; i < kPromptTokens; ++i) prompt[i] = 5 + (i * 53) % 400;
  decoder::StopCondition stop;
  stop.max_new_tokens = 1 + kDecodeTokens;
  auto reference = decoder::Generate(**model, prompt, decoder::SamplingParams{}, stop);
  ASSERT_TRUE(reference.ok()) << reference.status();

  const Decoded got = PrefillThenDecode(**stack, prompt);
  EXPECT_EQ(got.tokens, reference->tokens);
  EXPECT_EQ(got.report.kv_bytes_written(), uint64_t(kDecodeTokens) * token_bytes);
  if (GetParam() == "delta") {
    // The prompt's K/V, read once at admission.
    EXPECT_EQ(got.report.kv_bytes_read(), uint64_t(kPromptTokens) * token_bytes);
  } else {
    // Step s reads the whole sequence: prompt + s tokens.
    uint64_t expected = 0;
    for (int s = 0; s < kDecodeTokens; ++s) expected += uint64_t(kPromptTokens + s) * token_bytes;
    EXPECT_EQ(got.report.kv_bytes_read(), expected);
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, KvFetchModeTest, ::testing::Values("delta", "full"));

}  // namespace
}  // namespace pdserve::testing
