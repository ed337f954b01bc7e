// ghz config parsing: ghz's keys and defaults, durations, validation.
#include "tests/bench/pdbench/ghz_config.h"

#include "gtest/gtest.h"

namespace pdserve::bench {
namespace {

TEST(GhzConfigTest, ParsesGhzKeys) {
  auto c = ParseGhzConfig(R"({
    "call": "pdserve.kvcache.v1.KvCache.Lookup", "host": "127.0.0.1:50051",
    "proto": "pdserve/kvcache/v1/kvcache.proto", "import-paths": ["protos"],
    "insecure": true, "total": 300, "concurrency": 8, "connections": 2, "rps": 1000,
    "timeout": "5s", "duration": "1m30s", "metadata": {"x-request": "{{.RequestNumber}}"},
    "data": {"model_namespace": "synthetic:tiny", "token_ids": [3, 4]}, "unknown-key": 1})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->call, "pdserve.kvcache.v1.KvCache.Lookup");
  EXPECT_EQ(c->host, "127.0.0.1:50051");
  EXPECT_EQ(c->import_paths, std::vector<std::string>{"protos"});
  EXPECT_TRUE(c->insecure);
  EXPECT_EQ(c->total, 300u);
  EXPECT_EQ(c->concurrency, 8u);
  EXPECT_EQ(c->connections, 2u);
  EXPECT_EQ(c->rps, 1000u);
  EXPECT_EQ(c->timeout, absl::Seconds(5));
  EXPECT_EQ(c->duration, absl::Seconds(90));
  EXPECT_EQ(c->metadata["x-request"], "{{.RequestNumber}}");
  EXPECT_EQ(c->data["token_ids"][1], 4);
}

TEST(GhzConfigTest, DefaultsAreGhzs) {
  auto c = ParseGhzConfig(R"({"call": "pdserve.kvcache.v1.KvCache/GetStats"})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->total, 200u);
  EXPECT_EQ(c->concurrency, 50u);
  EXPECT_EQ(c->connections, 1u);
  EXPECT_EQ(c->timeout, absl::Seconds(20));
  EXPECT_EQ(c->duration, absl::ZeroDuration());
  EXPECT_FALSE(c->insecure);
}

TEST(GhzConfigTest, RejectsBadFiles) {
  EXPECT_FALSE(ParseGhzConfig("not json").ok());
  EXPECT_FALSE(ParseGhzConfig(R"({"total": 5})").ok());
  EXPECT_FALSE(ParseGhzConfig(R"({"call": "a.B.C", "timeout": "soon"})").ok());
  EXPECT_FALSE(ParseGhzConfig(R"({"call": "a.B.C", "data": [1, 2]})").ok());
  EXPECT_FALSE(ParseGhzConfig(R"({"call": "a.B.C", "data": []})").ok());
  EXPECT_FALSE(ParseGhzConfig(R"({"call": "a.B.C", "total": -1})").ok());
  EXPECT_FALSE(ParseGhzConfig(R"({"call": "nodots"})").ok());
}

TEST(GhzConfigTest, SplitsBothCallSpellings) {
  auto a = SplitCallName("pdserve.inference.v1.Router.Generate");
  auto b = SplitCallName("pdserve.inference.v1.Router/Generate");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->first, "pdserve.inference.v1.Router");
  EXPECT_EQ(a->second, "Generate");
  EXPECT_EQ(*a, *b);
}

}  // namespace
}  // namespace pdserve::bench
