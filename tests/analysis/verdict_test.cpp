// The verdict matrix on constructed results: a clear winner, a tie within noise, and a faster
// configuration that failed parity being excluded from the ranking.
#include "analysis/verdict.h"

#include <gtest/gtest.h>

namespace fwbench {
namespace {

// Adds an inference configuration at batch 1 with three trials of the given p50 latencies.
void AddInfer(nlohmann::json& r, const std::string& id, std::vector<double> p50, bool ranked = true,
              const std::string& parity = "pass") {
  r["configurations"].push_back({{"config", id},
                                 {"task", "infer"},
                                 {"batch_size", 1},
                                 {"ranked", ranked},
                                 {"parity", {{"status", parity}}}});
  for (double v : p50) {
    r["trials"].push_back({{"config", id},
                           {"status", "ok"},
                           {"latency_ms", {{"p50", v}}},
                           {"samples_per_s", 1000.0 / v},
                           {"ttfb_s", 1.0},
                           {"peak_rss_bytes", 100e6}});
  }
}

const Verdict& Find(const std::vector<Verdict>& vs, const std::string& prefix) {
  for (const Verdict& v : vs) {
    if (v.criterion.rfind(prefix, 0) == 0) return v;
  }
  throw std::runtime_error("no criterion " + prefix);
}

nlohmann::json Empty() {
  return {{"configurations", nlohmann::json::array()}, {"trials", nlohmann::json::array()}};
}

TEST(Verdict, AClearWinnerIsNamedWithItsAdvantageAndEvidence) {
  nlohmann::json r = Empty();
  AddInfer(r, "fast/compiled/infer/b1", {5.0, 5.1, 4.9});
  AddInfer(r, "slow/eager/infer/b1", {10.0, 10.3, 9.8});
  const auto vs = BuildVerdicts(r, 0.05);
  const Verdict& v = Find(vs, "inference latency");
  EXPECT_EQ(v.winner, "fast/compiled/infer/b1");
  EXPECT_EQ(v.runner_up, "slow/eager/infer/b1");
  EXPECT_FALSE(v.tie);
  EXPECT_NEAR(v.advantage.value, 2.0, 0.1);
  EXPECT_GT(v.advantage.ci_lo, 1.5);
  const auto lines = PickLines(vs);
  EXPECT_NE(std::find_if(lines.begin(), lines.end(),
                         [](const std::string& l) {
                           return l.rfind(
                                      "pick fast/compiled/infer/b1 if you care about "
                                      "inference latency",
                                      0) == 0;
                         }),
            lines.end());
  // Same TTFB and memory: ties, said as such.
  EXPECT_TRUE(Find(vs, "cold start").tie);
  EXPECT_TRUE(Find(vs, "memory").tie);
}

TEST(Verdict, OverlappingMeasurementsAreATieWithinNoise) {
  nlohmann::json r = Empty();
  AddInfer(r, "a/eager/infer/b1", {10.0, 11.5, 9.0});
  AddInfer(r, "b/eager/infer/b1", {10.4, 9.6, 11.0});
  const auto vs = BuildVerdicts(r, 0.05);
  const Verdict& v = Find(vs, "inference latency");
  EXPECT_TRUE(v.tie) << v.evidence;
  bool said = false;
  for (const std::string& l : PickLines(vs)) {
    said = said || l.find("inference latency (p50, batch 1): tie — within noise") == 0;
  }
  EXPECT_TRUE(said);
}

TEST(Verdict, AParityFailureIsExcludedEvenWhenItIsFastest) {
  nlohmann::json r = Empty();
  AddInfer(r, "wrong/compiled/infer/b1", {1.0, 1.0, 1.0}, /*ranked=*/false, "fail");
  AddInfer(r, "fast/compiled/infer/b1", {5.0, 5.1, 4.9});
  AddInfer(r, "slow/eager/infer/b1", {10.0, 10.3, 9.8});
  const auto verdicts = BuildVerdicts(r, 0.05);
  const Verdict& v = Find(verdicts, "inference latency");
  EXPECT_EQ(v.winner, "fast/compiled/infer/b1");
  ASSERT_EQ(v.excluded.size(), 1u);
  EXPECT_EQ(v.excluded[0], "wrong/compiled/infer/b1: not ranked (parity fail)");
}

TEST(Verdict, AnAdvantageUnderTheThresholdIsATie) {
  nlohmann::json r = Empty();
  AddInfer(r, "a/eager/infer/b1", {10.0, 10.01, 9.99});
  AddInfer(r, "b/eager/infer/b1", {10.3, 10.31, 10.29});  // 3% slower, very tight
  EXPECT_TRUE(Find(BuildVerdicts(r, 0.05), "inference latency").tie);
  EXPECT_FALSE(Find(BuildVerdicts(r, 0.01), "inference latency").tie);
}

}  // namespace
}  // namespace fwbench
