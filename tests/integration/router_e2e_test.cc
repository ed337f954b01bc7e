// The router in front of real prefill, decode and cache manager processes: its token stream
// equals the in-process reference, bad input gets precise statuses, and a decode server killed
// mid-stream or a cache manager restarted mid-stream leave the client's stream intact.
#include <signal.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "decoder/generate.h"
#include "decoder/model.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "pdserve/inference/v1/inference.grpc.pb.h"
#include "pdserve/kvcache/v1/kvcache.grpc.pb.h"
#include "tests/integration/grpc_probe.h"
#include "tests/integration/process.h"

namespace pdserve::testing {
namespace {

namespace inf = ::pdserve::inference::v1;

std::vector<int32_t> Prompt(int length, int salt) {
  std::vector<int32_t> ids(length);
  for (int i = 0; i < length; ++i) ids[i] = 3 + (i * 53 + salt * 97) % 500;
  return ids;
}

inf::GenerateRequest Request(const std::vector<int32_t>& prompt, uint32_t max_new) {
  inf::GenerateRequest request;
  request.mutable_prompt_token_ids()->Add(prompt.begin(), prompt.end());
  request.mutable_limits()->set_max_new_tokens(max_new);
  return request;
}

struct Stream {
  std::vector<int32_t> tokens;
  grpc::Status status;
  inf::GenerateResponse last;
};

// A cluster: one cache manager, one prefill, two decode servers, the router. Restartable
// cache manager (same port) for the failure tests.
class RouterE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto model = decoder::Model::Load("synthetic:tiny");
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
    StartCache("127.0.0.1:0");
    ASSERT_NE(cache_, nullptr);
    const std::string cache_flag = "--cache_manager=" + cache_->address();
    auto prefill = Process::StartServer(BinaryPath("prefill_server"),
                                        {"--address=127.0.0.1:0", cache_flag, "--model_threads=1"});
    ASSERT_TRUE(prefill.ok()) << prefill.status();
    prefill_ = *std::move(prefill);
    std::vector<std::string> decode_addresses;
    for (int i = 0; i < 2; ++i) {
      auto decode = Process::StartServer(
          BinaryPath("decode_server"), {"--address=127.0.0.1:0", cache_flag, "--model_threads=1"});
      ASSERT_TRUE(decode.ok()) << decode.status();
      decode_addresses.push_back((*decode)->address());
      decodes_.push_back(*std::move(decode));
    }
    auto router = Process::StartServer(
        BinaryPath("router_server"),
        {"--address=127.0.0.1:0", cache_flag, "--prefill=" + prefill_->address(),
         "--decode=" + absl::StrJoin(decode_addresses, ","), "--health_interval_ms=100"});
    ASSERT_TRUE(router.ok()) << router.status();
    router_ = *std::move(router);
    ASSERT_TRUE(WaitServing(router_->address(), "pdserve.inference.v1.Router", absl::Seconds(30))
                    .ok());
    stub_ = inf::Router::NewStub(
        grpc::CreateChannel(router_->address(), grpc::InsecureChannelCredentials()));
  }

  void StartCache(const std::string& address) {
    auto cache = Process::StartServer(BinaryPath("kv_cache_manager"),
                                      {"--address=" + address, "--capacity=256MiB"});
    ASSERT_TRUE(cache.ok()) << cache.status();
    cache_ = *std::move(cache);
  }

  std::vector<int32_t> Reference(const inf::GenerateRequest& request) {
    const inf::SamplingParams& s = request.sampling();
    decoder::SamplingParams params{s.temperature(), s.top_k(), s.has_top_p() ? s.top_p() : 1.0f,
                                   s.seed()};
    decoder::StopCondition stop;
    stop.max_new_tokens = static_cast<int>(request.limits().max_new_tokens());
    stop.stop_ids.assign(request.limits().stop_token_ids().begin(),
                         request.limits().stop_token_ids().end());
    if (!request.limits().ignore_eos()) {
      for (int32_t eos : model_->config().eos_token_ids) stop.stop_ids.push_back(eos);
    }
    const std::vector<int32_t> prompt(request.prompt_token_ids().begin(),
                                      request.prompt_token_ids().end());
    auto result = decoder::Generate(*model_, prompt, params, stop);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->tokens : std::vector<int32_t>{};
  }

  // Runs a Generate stream; `after(n)` runs once n tokens have arrived (for fault injection).
  Stream Generate(const inf::GenerateRequest& request, int after_tokens = -1,
                  const std::function<void()>& after = nullptr) {
    Stream stream;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    auto reader = stub_->Generate(&context, request);
    inf::GenerateResponse message;
    bool fired = false;
    while (reader->Read(&message)) {
      stream.tokens.insert(stream.tokens.end(), message.token_ids().begin(),
                           message.token_ids().end());
      stream.last = message;
      if (!fired && after && static_cast<int>(stream.tokens.size()) >= after_tokens) {
        fired = true;
        after();
      }
    }
    stream.status = reader->Finish();
    return stream;
  }

  std::unique_ptr<decoder::Model> model_;
  std::unique_ptr<Process> cache_;
  std::unique_ptr<Process> prefill_;
  std::vector<std::unique_ptr<Process>> decodes_;
  std::unique_ptr<Process> router_;
  std::unique_ptr<inf::Router::Stub> stub_;
};

TEST_F(RouterE2eTest, GreedyAndSeededSamplingMatchTheReference) {
  for (int length : {1, 16, 17, 300}) {
    inf::GenerateRequest greedy = Request(Prompt(length, length), 24);
    Stream got = Generate(greedy);
    ASSERT_TRUE(got.status.ok()) << got.status.error_message();
    EXPECT_EQ(got.tokens, Reference(greedy)) << "greedy, prompt length " << length;
    EXPECT_EQ(got.last.usage().prompt_tokens(), static_cast<uint32_t>(length));
    EXPECT_EQ(got.last.usage().completion_tokens(), got.tokens.size());
    EXPECT_NE(got.last.finish_reason(), inf::FINISH_REASON_UNSPECIFIED);

    inf::GenerateRequest sampled = Request(Prompt(length, length + 1), 24);
    sampled.mutable_sampling()->set_temperature(0.9f);
    sampled.mutable_sampling()->set_top_k(50);
    sampled.mutable_sampling()->set_top_p(0.95f);
    sampled.mutable_sampling()->set_seed(1234 + length);
    Stream got_sampled = Generate(sampled);
    ASSERT_TRUE(got_sampled.status.ok()) << got_sampled.status.error_message();
    EXPECT_EQ(got_sampled.tokens, Reference(sampled)) << "sampled, prompt length " << length;
  }
}

TEST_F(RouterE2eTest, ConcurrentRequestsOfMixedLengthsMatchTheReference) {
  std::vector<inf::GenerateRequest> requests;
  for (int i = 0; i < 8; ++i) {
    requests.push_back(Request(Prompt(1 + i * 23, i), 16 + i));
    requests.back().mutable_limits()->set_ignore_eos(true);
  }
  std::vector<Stream> streams(requests.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < requests.size(); ++i) {
    threads.emplace_back([&, i] { streams[i] = Generate(requests[i]); });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(streams[i].status.ok()) << i << ": " << streams[i].status.error_message();
    EXPECT_EQ(streams[i].tokens, Reference(requests[i])) << "request " << i;
  }
}

TEST_F(RouterE2eTest, FirstTokenFinishReleasesTheSequence) {
  Stream got = Generate(Request(Prompt(20, 3), 1));
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  ASSERT_EQ(got.tokens.size(), 1u);
  EXPECT_EQ(got.last.finish_reason(), inf::FINISH_REASON_LENGTH);
  auto cache = kvcache::v1::KvCache::NewStub(
      grpc::CreateChannel(cache_->address(), grpc::InsecureChannelCredentials()));
  // The release is asynchronous to the stream's end: poll the manager briefly.
  kvcache::v1::GetStatsResponse stats;
  for (int i = 0; i < 50; ++i) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    ASSERT_TRUE(cache->GetStats(&context, {}, &stats).ok());
    if (stats.sequences() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(stats.sequences(), 0u);
}

TEST_F(RouterE2eTest, BadInputGetsPreciseStatuses) {
  auto expect = [&](inf::GenerateRequest request, grpc::StatusCode code, const std::string& what) {
    Stream got = Generate(request);
    EXPECT_EQ(got.status.error_code(), code) << what << ": " << got.status.error_message();
    EXPECT_TRUE(got.tokens.empty()) << what;
  };
  inf::GenerateRequest good = Request({5, 6, 7}, 4);
  inf::GenerateRequest r = good;
  r.set_model("no-such-model");
  expect(r, grpc::StatusCode::NOT_FOUND, "unknown model");
  expect(Request({}, 4), grpc::StatusCode::INVALID_ARGUMENT, "empty prompt");
  expect(Request({5, 512}, 4), grpc::StatusCode::INVALID_ARGUMENT, "token outside vocab");
  expect(Request(Prompt(4096, 1), 4), grpc::StatusCode::INVALID_ARGUMENT, "prompt too long");
  expect(Request({5}, 0), grpc::StatusCode::INVALID_ARGUMENT, "max_new_tokens 0");
  expect(Request({5}, 1u << 30), grpc::StatusCode::INVALID_ARGUMENT, "max_new_tokens absurd");
  r = good;
  r.mutable_sampling()->set_temperature(-1);
  expect(r, grpc::StatusCode::INVALID_ARGUMENT, "temperature < 0");
  r = good;
  r.mutable_sampling()->set_top_p(0);
  expect(r, grpc::StatusCode::INVALID_ARGUMENT, "top_p 0");
  r = good;
  r.mutable_sampling()->set_top_p(1.5f);
  expect(r, grpc::StatusCode::INVALID_ARGUMENT, "top_p 1.5");
  r = good;
  r.mutable_sampling()->set_top_k(-2);
  expect(r, grpc::StatusCode::INVALID_ARGUMENT, "top_k < 0");
  // Nothing above disturbed the servers.
  Stream after = Generate(good);
  EXPECT_TRUE(after.status.ok()) << after.status.error_message();
}

TEST_F(RouterE2eTest, DecodeServerKilledMidStreamLeavesTheStreamIntact) {
  inf::GenerateRequest request = Request(Prompt(17, 9), 1500);
  request.mutable_limits()->set_ignore_eos(true);
  // A fresh router sends its first decode call to the first member.
  Stream got = Generate(request, 20, [&] { decodes_[0]->Signal(SIGKILL); });
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  EXPECT_EQ(got.tokens, Reference(request));
  EXPECT_GE(got.last.decode_retries(), 1u);
}

TEST_F(RouterE2eTest, CacheManagerRestartedMidStreamLeavesTheStreamIntact) {
  inf::GenerateRequest request = Request(Prompt(40, 11), 1500);
  request.mutable_limits()->set_ignore_eos(true);
  const std::string cache_address = cache_->address();
  Stream got = Generate(request, 20, [&] {
    cache_->Signal(SIGKILL);
    ASSERT_TRUE(cache_->Wait(absl::Seconds(10)).ok());
    StartCache(cache_address);
  });
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  EXPECT_EQ(got.tokens, Reference(request));
  EXPECT_GE(got.last.decode_retries(), 1u);
}

TEST_F(RouterE2eTest, PdctlThroughTheRouterEqualsPdctlLocal) {
  auto run = [](std::vector<std::string> args) -> nlohmann::json {
    absl::StatusOr<std::string> out = Process::Run(BinaryPath("pdctl"), args);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? nlohmann::json::parse(*out) : nlohmann::json();
  };
  for (const std::string& prompt : {std::string("--prompt_ids=1,2,3"),
                                    std::string("--prompt=Hello, world")}) {
    const std::vector<std::string> common = {"generate", prompt, "--max_new_tokens=32",
                                             "--temperature=0", "--json"};
    std::vector<std::string> remote = common;
    remote.push_back("--target=" + router_->address());
    std::vector<std::string> local = common;
    local.push_back("--local");
    local.push_back("--model=synthetic:tiny");
    const nlohmann::json r = run(remote);
    const nlohmann::json l = run(local);
    ASSERT_TRUE(r.contains("token_ids")) << r.dump();
    EXPECT_EQ(r["token_ids"], l["token_ids"]) << prompt;
    EXPECT_EQ(r["text"], l["text"]) << prompt;
    EXPECT_EQ(r["finish_reason"], l["finish_reason"]);
    EXPECT_TRUE(r.contains("ttft_ms") && r.contains("tokens_per_s") && r.contains("report"));
  }
}

}  // namespace
}  // namespace pdserve::testing
