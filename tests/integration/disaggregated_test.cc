// Prefill and decode as separate processes sharing K/V only through the cache manager give the
// same tokens as the in-process reference; bad inputs get precise statuses.
#include <algorithm>
#include <numeric>
#include <thread>

#include "decoder/generate.h"
#include "decoder/model.h"
#include "gtest/gtest.h"
#include "tests/integration/local_stack.h"

namespace pdserve::testing {
namespace {

namespace inf = ::pdserve::inference::v1;
namespace kv = ::pdserve::kvcache::v1;

std::vector<int32_t> Prompt(int length, int salt) {
  std::vector<int32_t> ids(length);
  for (int i = 0; i < length; ++i) ids[i] = 3 + (i * 37 + salt * 101) % 500;
  return ids;
}

inf::SamplingParams Sampling(float temperature, int top_k, float top_p, uint64_t seed) {
  inf::SamplingParams s;
  s.set_temperature(temperature);
  s.set_top_k(top_k);
  s.set_top_p(top_p);
  s.set_seed(seed);
  return s;
}

class DisaggregatedTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    StackOptions options;
    options.decode_servers = 2;
    auto stack = LocalStack::Start(options);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = stack->release();
    auto model = decoder::Model::Load("synthetic:tiny");
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = model->release();
  }
  static void TearDownTestSuite() {
    delete stack_;
    delete model_;
  }

  // The in-process reference: prefill + cached decode in one process.
  static std::vector<int32_t> Reference(const std::vector<int32_t>& prompt,
                                        const inf::SamplingParams& s, int max_new) {
    decoder::SamplingParams params{s.temperature(), s.top_k(), s.has_top_p() ? s.top_p() : 1.0f,
                                   s.seed()};
    decoder::StopCondition stop;
    stop.max_new_tokens = max_new;
    auto result = decoder::Generate(*model_, prompt, params, stop);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->tokens : std::vector<int32_t>{};
  }

  // Prefill then decode through the services; `decoder_index` picks the decode server.
  static std::vector<int32_t> Disaggregated(const std::vector<int32_t>& prompt,
                                            const inf::SamplingParams& s, int max_new,
                                            int decoder_index = 0,
                                            inf::PrefillResponse* prefill_out = nullptr) {
    auto prefill = stack_->PrefillStub();
    inf::PrefillRequest request;
    request.mutable_prompt_token_ids()->Add(prompt.begin(), prompt.end());
    *request.mutable_sampling() = s;
    inf::PrefillResponse response;
    grpc::ClientContext context;
    context.set_deadline(Deadline(60));
    grpc::Status status = prefill->Prefill(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (!status.ok()) return {};
    if (prefill_out != nullptr) *prefill_out = response;
    std::vector<int32_t> tokens = {response.first_token_id()};
    if (max_new == 1) return tokens;
    inf::DecodeRequest decode;
    decode.set_sequence_id(response.sequence_id());
    decode.set_last_token_id(response.first_token_id());
    decode.set_position(response.prompt_tokens());
    decode.set_step_index(1);
    *decode.mutable_sampling() = s;
    decode.mutable_limits()->set_max_new_tokens(max_new - 1);
    decode.mutable_limits()->set_ignore_eos(true);
    auto stub = stack_->DecodeStub(decoder_index);
    DecodeRun run = RunDecode(stub.get(), decode);
    EXPECT_TRUE(run.status.ok()) << run.status.error_message();
    tokens.insert(tokens.end(), run.tokens.begin(), run.tokens.end());
    return tokens;
  }

  static LocalStack* stack_;
  static decoder::Model* model_;
};

LocalStack* DisaggregatedTest::stack_ = nullptr;
decoder::Model* DisaggregatedTest::model_ = nullptr;

TEST_F(DisaggregatedTest, GreedyMatchesReferenceForPromptLengths) {
  for (int length : {1, 16, 17, 300}) {
    std::vector<int32_t> prompt = Prompt(length, length);
    inf::SamplingParams greedy = Sampling(0, 0, 1, 0);
    EXPECT_EQ(Disaggregated(prompt, greedy, 24), Reference(prompt, greedy, 24))
        << "prompt length " << length;
  }
}

TEST_F(DisaggregatedTest, SeededSamplingMatchesReference) {
  std::vector<int32_t> prompt = Prompt(40, 3);
  inf::SamplingParams sampled = Sampling(0.9f, 40, 0.95f, 1234);
  std::vector<int32_t> a = Disaggregated(prompt, sampled, 32);
  EXPECT_EQ(a, Reference(prompt, sampled, 32));
  EXPECT_EQ(a, Disaggregated(prompt, sampled, 32, 1)) << "same seed, other decode server";
}

TEST_F(DisaggregatedTest, ConcurrentRequestsOfMixedLengthsAreBatchedAndExact) {
  std::vector<std::vector<int32_t>> outputs(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([i, &outputs] {
      outputs[i] = Disaggregated(Prompt(5 + i * 23, 50 + i), Sampling(0, 0, 1, 0), 20, i % 2);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(outputs[i], Reference(Prompt(5 + i * 23, 50 + i), Sampling(0, 0, 1, 0), 20))
        << "request " << i;
  }
}

TEST_F(DisaggregatedTest, SharedPrefixIsReusedAndGivesTheColdOutput) {
  std::vector<int32_t> first = Prompt(80, 7);
  std::vector<int32_t> second(first.begin(), first.begin() + 64);
  for (int i = 0; i < 20; ++i) second.push_back(3 + (i * 11) % 400);
  inf::SamplingParams greedy = Sampling(0, 0, 1, 0);
  Disaggregated(first, greedy, 4);
  inf::PrefillResponse prefill;
  std::vector<int32_t> warm = Disaggregated(second, greedy, 16, 0, &prefill);
  EXPECT_GE(prefill.reused_tokens(), 64u);
  EXPECT_GE(prefill.report().reused_tokens(), 64u);
  EXPECT_GT(prefill.report().kv_bytes_read(), 0u);
  EXPECT_EQ(warm, Reference(second, greedy, 16));
}

TEST_F(DisaggregatedTest, AnyDecodeInstanceCanContinueAnySequence) {
  std::vector<int32_t> prompt = Prompt(33, 9);
  inf::SamplingParams sampled = Sampling(0.7f, 0, 1, 99);
  auto prefill_stub = stack_->PrefillStub();
  inf::PrefillRequest request;
  request.mutable_prompt_token_ids()->Add(prompt.begin(), prompt.end());
  *request.mutable_sampling() = sampled;
  inf::PrefillResponse prefilled;
  grpc::ClientContext context;
  context.set_deadline(Deadline(30));
  ASSERT_TRUE(prefill_stub->Prefill(&context, request, &prefilled).ok());

  std::vector<int32_t> tokens = {prefilled.first_token_id()};
  inf::DecodeRequest decode;
  decode.set_sequence_id(prefilled.sequence_id());
  decode.set_last_token_id(prefilled.first_token_id());
  decode.set_position(prefilled.prompt_tokens());
  decode.set_step_index(1);
  *decode.mutable_sampling() = sampled;
  decode.mutable_limits()->set_max_new_tokens(5);
  decode.mutable_limits()->set_ignore_eos(true);
  decode.set_keep_sequence(true);
  auto first = stack_->DecodeStub(0);
  DecodeRun a = RunDecode(first.get(), decode);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  tokens.insert(tokens.end(), a.tokens.begin(), a.tokens.end());

  // Continue the same sequence on the other decode server.
  decode.set_last_token_id(tokens.back());
  decode.set_position(prefilled.prompt_tokens() + 5);
  decode.set_step_index(6);
  decode.mutable_limits()->set_max_new_tokens(10);
  decode.set_keep_sequence(false);
  auto second = stack_->DecodeStub(1);
  DecodeRun b = RunDecode(second.get(), decode);
  ASSERT_TRUE(b.status.ok()) << b.status.error_message();
  tokens.insert(tokens.end(), b.tokens.begin(), b.tokens.end());
  EXPECT_EQ(tokens, Reference(prompt, sampled, 16));
}

TEST_F(DisaggregatedTest, PrefillRejectsBadInputWithPreciseStatus) {
  auto stub = stack_->PrefillStub();
  auto call = [&](const inf::PrefillRequest& r) {
    inf::PrefillResponse response;
    grpc::ClientContext context;
    context.set_deadline(Deadline(30));
    return stub->Prefill(&context, r, &response);
  };
  auto base = [] {
    inf::PrefillRequest r;
    r.add_prompt_token_ids(5);
    r.add_prompt_token_ids(6);
    return r;
  };
  struct Case {
    std::string name;
    inf::PrefillRequest request;
    grpc::StatusCode code;
    std::string field;
  };
  std::vector<Case> cases;
  {
    auto r = base();
    r.set_model("no-such-model");
    cases.push_back({"unknown model", r, grpc::StatusCode::NOT_FOUND, "model"});
  }
  cases.push_back({"empty prompt", inf::PrefillRequest(), grpc::StatusCode::INVALID_ARGUMENT,
                   "prompt"});
  {
    auto r = base();
    r.add_prompt_token_ids(512);
    cases.push_back({"token out of vocab", r, grpc::StatusCode::INVALID_ARGUMENT,
                     "prompt_token_ids[2]"});
  }
  {
    inf::PrefillRequest r;
    for (int i = 0; i < 5000; ++i) r.add_prompt_token_ids(7);
    cases.push_back({"prompt too long", r, grpc::StatusCode::INVALID_ARGUMENT, "prompt"});
  }
  {
    auto r = base();
    r.mutable_sampling()->set_temperature(-1);
    cases.push_back({"temperature < 0", r, grpc::StatusCode::INVALID_ARGUMENT, "temperature"});
  }
  for (float top_p : {0.0f, 1.5f}) {
    auto r = base();
    r.mutable_sampling()->set_top_p(top_p);
    cases.push_back({"top_p", r, grpc::StatusCode::INVALID_ARGUMENT, "top_p"});
  }
  {
    auto r = base();
    r.mutable_sampling()->set_top_k(-3);
    cases.push_back({"top_k < 0", r, grpc::StatusCode::INVALID_ARGUMENT, "top_k"});
  }
  {
    auto r = base();
    r.set_prompt_text("hello");
    cases.push_back({"text and ids", r, grpc::StatusCode::INVALID_ARGUMENT, "prompt_text"});
  }
  for (const Case& c : cases) {
    grpc::Status status = call(c.request);
    EXPECT_EQ(status.error_code(), c.code) << c.name << ": " << status.error_message();
    EXPECT_NE(status.error_message().find(c.field), std::string::npos)
        << c.name << ": message '" << status.error_message() << "' does not name " << c.field;
  }
}

TEST_F(DisaggregatedTest, DecodeRejectsBadInputWithPreciseStatus) {
  auto stub = stack_->DecodeStub(0);
  inf::DecodeRequest unknown;
  unknown.set_sequence_id("00000000000000000000000000000000");
  unknown.set_last_token_id(5);
  unknown.set_position(3);
  unknown.mutable_limits()->set_max_new_tokens(4);
  DecodeRun run = RunDecode(stub.get(), unknown);
  EXPECT_EQ(run.status.error_code(), grpc::StatusCode::NOT_FOUND) << run.status.error_message();

  inf::DecodeRequest zero = unknown;
  zero.mutable_limits()->set_max_new_tokens(0);
  run = RunDecode(stub.get(), zero);
  EXPECT_EQ(run.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(run.status.error_message().find("max_new_tokens"), std::string::npos);

  inf::DecodeRequest absurd = unknown;
  absurd.mutable_limits()->set_max_new_tokens(1u << 30);
  run = RunDecode(stub.get(), absurd);
  EXPECT_EQ(run.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  inf::DecodeRequest bad_temp = unknown;
  bad_temp.mutable_sampling()->set_temperature(-0.5f);
  run = RunDecode(stub.get(), bad_temp);
  EXPECT_EQ(run.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(run.status.error_message().find("temperature"), std::string::npos);

  // A sequence whose prefill never committed: created in the manager, nothing written.
  auto cache = stack_->CacheStub();
  kv::CreateSequenceRequest create;
  create.set_model_namespace(model_->name());
  create.mutable_layout()->set_num_layers(model_->kv_layout().num_layers);
  create.mutable_layout()->set_num_kv_heads(model_->kv_layout().num_kv_heads);
  create.mutable_layout()->set_head_dim(model_->kv_layout().head_dim);
  create.mutable_layout()->set_dtype(kv::DTYPE_F32);
  for (int i = 0; i < 20; ++i) create.add_token_ids(300 + i);
  kv::CreateSequenceResponse created;
  grpc::ClientContext context;
  context.set_deadline(Deadline(30));
  ASSERT_TRUE(cache->CreateSequence(&context, create, &created).ok());
  inf::DecodeRequest uncommitted = unknown;
  uncommitted.set_sequence_id(created.sequence_id());
  uncommitted.set_position(20);
  run = RunDecode(stub.get(), uncommitted);
  EXPECT_EQ(run.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << run.status.error_message();
  {
    kv::ReleaseSequenceRequest release;
    release.set_sequence_id(created.sequence_id());
    kv::ReleaseSequenceResponse released;
    grpc::ClientContext release_context;
    release_context.set_deadline(Deadline(10));
    EXPECT_TRUE(cache->ReleaseSequence(&release_context, release, &released).ok())
        << "a failed decode must not release a sequence it never admitted";
  }

  // A finished (released) sequence.
  inf::PrefillResponse prefilled;
  Disaggregated(Prompt(10, 77), Sampling(0, 0, 1, 0), 3, 0, &prefilled);
  inf::DecodeRequest finished = unknown;
  finished.set_sequence_id(prefilled.sequence_id());
  finished.set_position(12);
  run = RunDecode(stub.get(), finished);
  EXPECT_EQ(run.status.error_code(), grpc::StatusCode::NOT_FOUND) << run.status.error_message();
}

TEST_F(DisaggregatedTest, CancellingAStreamReleasesTheSequence) {
  const absl::StatusOr<kv::GetStatsResponse> before = stack_->CacheStats();
  ASSERT_TRUE(before.ok()) << before.status();
  auto prefill = stack_->PrefillStub();
  inf::PrefillRequest request;
  std::vector<int32_t> prompt = Prompt(50, 123);
  request.mutable_prompt_token_ids()->Add(prompt.begin(), prompt.end());
  inf::PrefillResponse prefilled;
  {
    grpc::ClientContext context;
    context.set_deadline(Deadline(30));
    ASSERT_TRUE(prefill->Prefill(&context, request, &prefilled).ok());
  }
  inf::DecodeRequest decode;
  decode.set_sequence_id(prefilled.sequence_id());
  decode.set_last_token_id(prefilled.first_token_id());
  decode.set_position(prefilled.prompt_tokens());
  decode.set_step_index(1);
  decode.mutable_limits()->set_max_new_tokens(2000);
  decode.mutable_limits()->set_ignore_eos(true);
  auto stub = stack_->DecodeStub(0);
  grpc::ClientContext context;
  context.set_deadline(Deadline(60));
  auto reader = stub->Decode(&context, decode);
  inf::DecodeResponse message;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reader->Read(&message));
  context.TryCancel();
  while (reader->Read(&message)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);

  // The decode server drops the sequence within a step; only cached full blocks remain.
  const absl::StatusOr<kv::GetStatsResponse> s =
      stack_->WaitUntilReleased(*before, absl::Seconds(20));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->sequences(), before->sequences());
  EXPECT_EQ(s->blocks_partial(), before->blocks_partial());
  EXPECT_EQ(s->blocks_pinned(), before->blocks_pinned());
  EXPECT_GT(s->blocks_cached(), before->blocks_cached()) << "full blocks stay cached";
}

}  // namespace
}  // namespace pdserve::testing
