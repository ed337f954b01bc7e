// The ghz-format summary: field set, OK-only percentiles, status and error distributions.
#include "tests/bench/pdbench/ghz_report.h"

#include "gtest/gtest.h"

namespace pdserve::bench {
namespace {

constexpr int64_t kMs = 1000000;

std::vector<CallResult> MixedResults() {
  return {
      {1 * kMs, 0, "", 1 * kMs, 1},  {2 * kMs, 0, "", 1 * kMs, 1},
      {3 * kMs, 0, "", 2 * kMs, 1},  {5 * kMs, 5, "x", -1, 0},
      {5 * kMs, 5, "x", -1, 0},      {10 * kMs, 14, "down", -1, 0},
  };
}

TEST(GhzReportTest, SummaryArithmetic) {
  const GhzReport r = BuildGhzReport(MixedResults(), 2000 * kMs, /*server_streaming=*/false);
  EXPECT_EQ(r.count, 6u);
  EXPECT_EQ(r.total_ns, 2000 * kMs);
  EXPECT_EQ(r.average_ns, 4333333);  // (1+2+3+5+5+10)/6 ms, errors included as in ghz
  EXPECT_EQ(r.fastest_ns, 1 * kMs);  // OK calls only
  EXPECT_EQ(r.slowest_ns, 3 * kMs);
  EXPECT_DOUBLE_EQ(r.rps, 3.0);
  EXPECT_EQ(r.status_code_distribution.at("OK"), 3);
  EXPECT_EQ(r.status_code_distribution.at("NotFound"), 2);
  EXPECT_EQ(r.status_code_distribution.at("Unavailable"), 1);
  EXPECT_EQ(r.error_distribution.at("rpc error: code = NotFound desc = x"), 2);
  EXPECT_EQ(r.error_distribution.at("rpc error: code = Unavailable desc = down"), 1);
  ASSERT_EQ(r.latency_distribution.size(), 7u);
  EXPECT_EQ(r.latency_distribution[2].latency_ns, 2 * kMs);  // p50 of {1,2,3}: rank 1.5 -> 2
}

TEST(GhzReportTest, JsonHasEveryGhzField) {
  const GhzReport r = BuildGhzReport(MixedResults(), 2000 * kMs, /*server_streaming=*/true);
  ReportOptions o;
  o.call = "pdserve.kvcache.v1.KvCache.Lookup";
  o.host = "127.0.0.1:1";
  const std::string text = GhzReportToJson(r, o).dump();
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  for (const char* key : {"date", "endReason", "options", "count", "total", "average", "fastest",
                          "slowest", "rps", "errorDistribution", "statusCodeDistribution",
                          "latencyDistribution", "histogram"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["count"], 6);
  EXPECT_EQ(j["total"], 2000 * kMs);
  EXPECT_EQ(j["statusCodeDistribution"]["NotFound"], 2);
  ASSERT_EQ(j["latencyDistribution"].size(), 7u);
  EXPECT_EQ(j["latencyDistribution"][0]["percentage"], 10);
  EXPECT_TRUE(j["latencyDistribution"][0].contains("latency"));
  ASSERT_EQ(j["histogram"].size(), 11u);
  for (const char* key : {"mark", "count", "frequency"}) {
    EXPECT_TRUE(j["histogram"][0].contains(key)) << key;
  }
  EXPECT_EQ(j["options"]["call"], o.call);
  EXPECT_EQ(j["pdbench"]["timeToFirstMessage"]["fastest"], 1 * kMs);
  EXPECT_EQ(j["pdbench"]["messages"], 3);
}

TEST(GhzReportTest, AllFailedHasNoDistribution) {
  const GhzReport r = BuildGhzReport({{7, 14, "down", -1, 0}}, 10, false);
  EXPECT_EQ(r.count, 1u);
  EXPECT_TRUE(r.latency_distribution.empty());
  EXPECT_EQ(r.fastest_ns, 0);
  const nlohmann::json j = GhzReportToJson(r, ReportOptions());
  EXPECT_TRUE(j["latencyDistribution"].is_array());
  EXPECT_TRUE(j["histogram"].is_array());
}

TEST(GhzReportTest, TableMentionsStatuses) {
  const GhzReport r = BuildGhzReport(MixedResults(), 2000 * kMs, false);
  const std::string table = FormatGhzReportTable(r, ReportOptions());
  EXPECT_NE(table.find("[NotFound] 2 responses"), std::string::npos) << table;
  EXPECT_NE(table.find("Requests/sec:"), std::string::npos);
}

}  // namespace
}  // namespace pdserve::bench
