#include "analysis/ddp_scaling.h"

#include <gtest/gtest.h>

#include <random>
#include <stdexcept>

namespace fwbench {
namespace {

TrialMetrics Trial(double step_s, std::uint64_t seed) {
  TrialMetrics t;
  t.ok = true;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, step_s * 0.02);
  for (int i = 0; i < 40; ++i) t.steady_step_s.push_back(step_s + noise(rng));
  t.step_s = t.steady_step_s;
  return t;
}

TEST(DdpScalingTest, EfficiencyIsOneProcessStepTimeOverNAndSpeedupIsNTimesIt) {
  std::vector<TrialMetrics> one, two;
  for (std::uint64_t s = 0; s < 5; ++s) {
    one.push_back(Trial(0.100, s));
    two.push_back(Trial(0.125, 100 + s));
  }
  const DdpScaling d = ComputeDdpScaling("x/p1", 2, 1, one, two);
  EXPECT_NEAR(d.efficiency.value, 0.8, 0.01);
  EXPECT_LT(d.efficiency.ci_lo, d.efficiency.value);
  EXPECT_GT(d.efficiency.ci_hi, d.efficiency.value);
  EXPECT_LT(d.efficiency.ci_hi, 0.9);  // 2% noise: the CI is far from perfect scaling
  EXPECT_EQ(d.efficiency.n, 5u);
  EXPECT_DOUBLE_EQ(d.speedup.value, 2 * d.efficiency.value);
  EXPECT_DOUBLE_EQ(d.speedup.ci_lo, 2 * d.efficiency.ci_lo);
  EXPECT_NEAR(d.baseline_step_s, 0.100, 0.002);
  EXPECT_NEAR(d.step_s, 0.125, 0.002);
  const DdpScaling back = DdpScalingFromJson(ToJson(d));
  EXPECT_EQ(back.baseline_config, "x/p1");
  EXPECT_EQ(back.processes, 2);
  EXPECT_DOUBLE_EQ(back.efficiency.ci_hi, d.efficiency.ci_hi);
  EXPECT_EQ(back.speedup.n, 5u);
}

TEST(DdpScalingTest, NoSuccessfulTrialOnEitherSideIsAnError) {
  std::vector<TrialMetrics> one = {Trial(0.1, 1)}, none;
  TrialMetrics failed = Trial(0.1, 2);
  failed.ok = false;
  none.push_back(failed);
  EXPECT_THROW(ComputeDdpScaling("x/p1", 2, 1, one, none), std::invalid_argument);
  EXPECT_THROW(ComputeDdpScaling("x/p1", 2, 1, none, one), std::invalid_argument);
}

}  // namespace
}  // namespace fwbench
