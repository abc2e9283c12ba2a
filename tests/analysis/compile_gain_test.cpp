#include "analysis/compile_gain.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace fwbench {
namespace {

// A trial whose steady steps scatter around `step_s`, with a compile phase and warm-up cost.
TrialMetrics Trial(double step_s, double compile_s, double warmup_cost_s, std::uint64_t seed) {
  TrialMetrics t;
  t.ok = true;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, step_s * 0.02);
  for (int i = 0; i < 50; ++i) t.steady_step_s.push_back(step_s + noise(rng));
  t.step_s = t.steady_step_s;
  if (compile_s > 0) t.phases_s.emplace_back("compile", compile_s);
  t.warmup_cost_s = warmup_cost_s;
  return t;
}

TEST(CompileGainTest, FasterCompiledHasASpeedupAndABreakEven) {
  std::vector<TrialMetrics> eager, compiled;
  for (std::uint64_t s = 0; s < 5; ++s) {
    eager.push_back(Trial(0.010, 0.0, 0.01, s));
    compiled.push_back(Trial(0.008, 1.0, 0.05, 100 + s));
  }
  const CompileGain g = ComputeCompileGain("e", eager, compiled);
  EXPECT_NEAR(g.speedup.value, 1.25, 0.02);
  EXPECT_LT(g.speedup.ci_lo, g.speedup.value);
  EXPECT_GT(g.speedup.ci_hi, g.speedup.value);
  EXPECT_TRUE(g.significant);
  EXPECT_DOUBLE_EQ(g.compile_s, 1.0);
  EXPECT_NEAR(g.extra_warmup_s, 0.04, 1e-12);
  ASSERT_TRUE(g.break_even_steps.has_value());
  // (1.0 + 0.04) / (0.010 - 0.008) = 520, up to the noise in the step medians.
  EXPECT_NEAR(*g.break_even_steps, 520.0, 30.0);
  // Its CI from resampling the trial processes brackets it and is finite: every resample has
  // compiled faster.
  EXPECT_LE(g.break_even_ci_lo, *g.break_even_steps);
  EXPECT_GE(g.break_even_ci_hi, *g.break_even_steps);
  EXPECT_LT(g.break_even_ci_hi, 1000.0);
  const nlohmann::json j = ToJson(g);
  EXPECT_TRUE(j["break_even_steps"].is_number());
  EXPECT_TRUE(j["break_even_ci95"]["lo"].is_number());
  EXPECT_TRUE(j["break_even_ci95"]["hi"].is_number());
  EXPECT_EQ(j["eager_config"], "e");
}

TEST(CompileGainTest, ABarelyFasterCompiledModeMayNeverBreakEvenWithinItsCi) {
  // Compiled is faster in the medians but not in every trial: in some resamples it saves
  // nothing, so the upper bound of the break-even is "never".
  std::vector<TrialMetrics> eager, compiled;
  const double eager_steps[] = {0.0100, 0.0104, 0.0098};
  const double compiled_steps[] = {0.0099, 0.0097, 0.0103};
  for (std::uint64_t s = 0; s < 3; ++s) {
    eager.push_back(Trial(eager_steps[s], 0.0, 0.0, s));
    compiled.push_back(Trial(compiled_steps[s], 0.5, 0.0, 20 + s));
  }
  const CompileGain g = ComputeCompileGain("e", eager, compiled);
  ASSERT_TRUE(g.break_even_steps.has_value());
  EXPECT_TRUE(std::isinf(g.break_even_ci_hi));
  EXPECT_EQ(ToJson(g)["break_even_ci95"]["hi"], "never");
}

TEST(CompileGainTest, SlowerCompiledNeverBreaksEven) {
  std::vector<TrialMetrics> eager, compiled;
  for (std::uint64_t s = 0; s < 3; ++s) {
    eager.push_back(Trial(0.010, 0.0, 0.0, s));
    compiled.push_back(Trial(0.012, 0.5, 0.0, 50 + s));
  }
  const CompileGain g = ComputeCompileGain("e", eager, compiled);
  EXPECT_LT(g.speedup.value, 1.0);
  EXPECT_FALSE(g.break_even_steps.has_value());
  EXPECT_EQ(ToJson(g)["break_even_steps"], "never");
  EXPECT_EQ(ToJson(g)["break_even_ci95"]["lo"], "never");
}

TEST(CompileGainTest, OverlappingSamplesAreNotSignificant) {
  std::vector<TrialMetrics> eager, compiled;
  for (std::uint64_t s = 0; s < 3; ++s) {
    eager.push_back(Trial(0.010 * (1.0 + 0.05 * static_cast<double>(s)), 0.0, 0.0, s));
    compiled.push_back(Trial(0.010 * (1.0 + 0.05 * static_cast<double>(2 - s)), 0.1, 0.0, 9 + s));
  }
  const CompileGain g = ComputeCompileGain("e", eager, compiled);
  EXPECT_LE(g.speedup.ci_lo, 1.0);
  EXPECT_GE(g.speedup.ci_hi, 1.0);
  EXPECT_FALSE(g.significant);
}

TEST(CompileGainTest, NeedsTrialsOnBothSides) {
  std::vector<TrialMetrics> eager = {Trial(0.01, 0, 0, 1)};
  std::vector<TrialMetrics> failed = {Trial(0.01, 0, 0, 2)};
  failed[0].ok = false;
  EXPECT_THROW(ComputeCompileGain("e", eager, failed), std::invalid_argument);
  EXPECT_THROW(ComputeCompileGain("e", {}, eager), std::invalid_argument);
}

}  // namespace
}  // namespace fwbench
