// ghz template expansion: fields, functions, verbatim text and errors.
#include "tests/bench/pdbench/call_template.h"

#include "gtest/gtest.h"

namespace pdserve::bench {
namespace {

TemplateContext Context() {
  TemplateContext c;
  c.request_number = 42;
  c.worker_id = "g0c3";
  c.fully_qualified_name = "pdserve.kvcache.v1.KvCache.Lookup";
  c.method_name = "Lookup";
  c.service_name = "KvCache";
  c.input_name = "LookupRequest";
  c.output_name = "LookupResponse";
  c.now = absl::FromUnixMillis(1700000000123);
  return c;
}

TEST(CallTemplateTest, ExpandsFields) {
  auto t = CallTemplate::Parse(
      R"({"token_ids":["{{.RequestNumber}}",7],"w":"{{ .WorkerID }}","m":"{{.MethodName}}"})");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->has_actions());
  EXPECT_EQ(t->Expand(Context()), R"({"token_ids":["42",7],"w":"g0c3","m":"Lookup"})");
}

TEST(CallTemplateTest, ExpandsTimestampsAndNames) {
  auto t = CallTemplate::Parse(
      "{{.TimestampUnix}} {{.TimestampUnixMilli}} {{.ServiceName}} {{.InputName}} "
      "{{.FullyQualifiedName}}");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->Expand(Context()),
            "1700000000 1700000000123 KvCache LookupRequest pdserve.kvcache.v1.KvCache.Lookup");
}

TEST(CallTemplateTest, RandomFunctionsHaveTheRightShape) {
  auto t = CallTemplate::Parse("{{randomString 8}}|{{newUUID}}");
  ASSERT_TRUE(t.ok()) << t.status();
  const std::string out = t->Expand(Context());
  ASSERT_EQ(out.size(), 8u + 1 + 36);
  EXPECT_EQ(out[8], '|');
  EXPECT_EQ(out[8 + 1 + 14], '4');  // UUID version nibble
}

TEST(CallTemplateTest, TextWithoutActionsIsVerbatim) {
  auto t = CallTemplate::Parse(R"({"a": "{ not a template }"})");
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->has_actions());
  EXPECT_EQ(t->Expand(Context()), R"({"a": "{ not a template }"})");
}

TEST(CallTemplateTest, RejectsUnknownAndUnterminatedActions) {
  EXPECT_EQ(CallTemplate::Parse("{{.Nope}}").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CallTemplate::Parse("x {{.RequestNumber").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pdserve::bench
