// The verdicts of `fwbench compare` on constructed runs: a real slowdown is called, an identical
// rerun and a change under the threshold are not.
#include "analysis/run_comparison.h"

#include <gtest/gtest.h>

#include <random>

namespace fwbench {
namespace {

// A results.json with `trials` trials of one inference configuration whose steady steps take
// `step_ms` milliseconds with 2% noise.
nlohmann::json FakeRun(double step_ms, std::uint32_t seed, int trials = 3) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(1.0, 0.02);
  nlohmann::json out = {{"trials", nlohmann::json::array()}};
  for (int t = 0; t < trials; ++t) {
    std::vector<double> steps;
    for (int i = 0; i < 40; ++i) steps.push_back(step_ms * 1e-3 * noise(rng));
    out["trials"].push_back({{"config", "x/eager/infer/b1"},
                             {"task", "infer"},
                             {"status", "ok"},
                             {"step_s", steps},
                             {"warmup_steps", 0},
                             {"ttfb_s", 1.0 * noise(rng)},
                             {"peak_rss_bytes", 100e6 * noise(rng)},
                             {"latency_ms", {{"p99", step_ms * 1.1 * noise(rng)}}}});
  }
  return out;
}

const MetricChange& Find(const Comparison& c, const std::string& metric) {
  for (const MetricChange& m : c.changes) {
    if (m.metric == metric) return m;
  }
  throw std::runtime_error("no metric " + metric);
}

TEST(CompareRuns, ATwentyPercentSlowdownIsSignificant) {
  const Comparison c =
      CompareRuns(RunResultsFromJson(FakeRun(10.0, 1)), RunResultsFromJson(FakeRun(12.0, 2)), 0.05);
  const MetricChange& m = Find(c, "step time");
  EXPECT_NEAR(m.ratio.value, 1.2, 0.02);
  EXPECT_GT(m.ratio.ci_lo, 1.1);
  EXPECT_TRUE(m.significant);
  EXPECT_EQ(m.verdict, "slower");
  EXPECT_TRUE(Find(c, "p99 latency").significant);
}

TEST(CompareRuns, ARerunWithoutChangeIsNotSignificant) {
  const Comparison c =
      CompareRuns(RunResultsFromJson(FakeRun(10.0, 1)), RunResultsFromJson(FakeRun(10.0, 3)), 0.05);
  for (const MetricChange& m : c.changes) {
    EXPECT_FALSE(m.significant) << m.metric << " " << m.ratio.value;
    EXPECT_EQ(m.verdict, "no significant change");
  }
}

TEST(CompareRuns, AChangeUnderTheThresholdIsNotCalledEvenWhenItsCiExcludesOne) {
  // 3% faster with tight CIs: real, but under a 5% threshold.
  const Comparison c = CompareRuns(RunResultsFromJson(FakeRun(10.0, 1, 8)),
                                   RunResultsFromJson(FakeRun(9.7, 4, 8)), 0.05);
  const MetricChange& m = Find(c, "step time");
  EXPECT_LT(m.ratio.ci_hi, 1.0);
  EXPECT_FALSE(m.significant);
  // The same change with a 1% threshold is called, as faster.
  const MetricChange& strict = Find(CompareRuns(RunResultsFromJson(FakeRun(10.0, 1, 8)),
                                                RunResultsFromJson(FakeRun(9.7, 4, 8)), 0.01),
                                    "step time");
  EXPECT_TRUE(strict.significant);
  EXPECT_EQ(strict.verdict, "faster");
}

TEST(CompareRuns, ConfigurationsInOnlyOneRunAreListedAndFailedTrialsLeftOut) {
  nlohmann::json a = FakeRun(10.0, 1);
  nlohmann::json b = FakeRun(10.0, 2);
  b["trials"][0]["config"] = "y/eager/infer/b1";
  b["trials"][1]["status"] = "failed";
  b["trials"][1]["step_s"] = {100.0};  // would be a huge slowdown if it were counted
  const Comparison c = CompareRuns(RunResultsFromJson(a), RunResultsFromJson(b), 0.05);
  EXPECT_EQ(c.only_in_b, std::vector<std::string>{"y/eager/infer/b1"});
  EXPECT_FALSE(Find(c, "step time").significant);
}

TEST(CompareRuns, ASameIdAtAnotherThreadCountIsNotCompared) {
  // Up to issue 19 an id without "/tN" meant all cores; since, it means 1 thread.
  nlohmann::json a = FakeRun(10.0, 1);
  nlohmann::json b = FakeRun(16.0, 2);
  a["configurations"] = {{{"config", "x/eager/infer/b1"}, {"threads", 2}}};
  b["configurations"] = {{{"config", "x/eager/infer/b1"}, {"threads", 1}}};
  const Comparison c = CompareRuns(RunResultsFromJson(a), RunResultsFromJson(b), 0.05);
  EXPECT_TRUE(c.changes.empty());
  EXPECT_EQ(c.threads_differ, std::vector<std::string>{"x/eager/infer/b1: 2 threads in A, 1 in B"});
  EXPECT_EQ(ToJson(c, 0.05)["threads_differ"].size(), 1u);
  // The same count on both sides is compared as before.
  b["configurations"][0]["threads"] = 2;
  EXPECT_TRUE(
      CompareRuns(RunResultsFromJson(a), RunResultsFromJson(b), 0.05).threads_differ.empty());
  EXPECT_TRUE(Find(CompareRuns(RunResultsFromJson(a), RunResultsFromJson(b), 0.05), "step time")
                  .significant);
}

}  // namespace
}  // namespace fwbench
