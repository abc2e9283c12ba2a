// Do the intervals mean what they say? Each test draws many samples from a law whose median is
// known and counts how often the 95% interval contains it. Bounds are several binomial standard
// errors wide (sd of a coverage fraction over 400 replications is about 0.011), and everything
// is seeded, so the tests are deterministic yet fail if an interval is systematically too
// narrow or too wide.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <stdexcept>
#include <vector>

#include "analysis/stats.h"

namespace fwbench::stats {
namespace {

constexpr int kReplications = 400;
constexpr int kResamples = 1000;  // fewer than the default keeps the suite fast

template <typename Dist>
std::vector<double> Draw(Dist& dist, std::mt19937_64& rng, std::size_t n) {
  std::vector<double> v(n);
  for (double& x : v) x = dist(rng);
  return v;
}

bool Contains(const Estimate& e, double truth) { return e.ci_lo <= truth && truth <= e.ci_hi; }

double MedianCoverage(std::uint64_t seed, std::size_t n, int replications,
                      const std::function<double(std::mt19937_64&)>& draw, double truth,
                      int resamples = kResamples) {
  std::mt19937_64 rng(seed);
  int hits = 0;
  for (int r = 0; r < replications; ++r) {
    std::vector<double> x(n);
    for (double& v : x) v = draw(rng);
    hits += Contains(BootstrapMedian(x, 0.95, resamples, static_cast<std::uint64_t>(r)), truth);
  }
  return hits / static_cast<double>(replications);
}

TEST(Coverage, BootstrapMedianNormal) {
  std::normal_distribution<double> normal(10.0, 2.0);
  const double coverage = MedianCoverage(
      101, 30, kReplications, [&](std::mt19937_64& g) { return normal(g); }, 10.0);
  EXPECT_GE(coverage, 0.90);
  EXPECT_LE(coverage, 0.99);
}

TEST(Coverage, BootstrapMedianLognormal) {
  // Skewed like real step times; the median of lognormal(mu, sigma) is exp(mu).
  const double mu = -3.0;
  std::lognormal_distribution<double> lognormal(mu, 0.5);
  const double coverage = MedianCoverage(
      202, 30, kReplications, [&](std::mt19937_64& g) { return lognormal(g); }, std::exp(mu));
  EXPECT_GE(coverage, 0.90);
  EXPECT_LE(coverage, 0.99);
}

TEST(Coverage, ThreeSampleCoverageIsOnly75Percent) {
  // Documented limit (docs/statistics.md): with n = 3 the 95% interval is [min, max], which
  // contains the true median with probability 1 - 2 * (1/2)^3 = 0.75 for any continuous law.
  std::normal_distribution<double> normal(0.0, 1.0);
  // 200 resamples suffice: x(1) and x(3) each take about 26% of the resampled medians.
  const double coverage = MedianCoverage(
      303, 3, 2000, [&](std::mt19937_64& g) { return normal(g); }, 0.0, 200);
  // 2000 replications: sd of the fraction is 0.01.
  EXPECT_NEAR(coverage, 0.75, 0.04);
}

TEST(Coverage, RatioOfMedians) {
  // Median ratio of two lognormals is exp(mu_a - mu_b) = exp(-0.4); unequal sizes on purpose.
  std::lognormal_distribution<double> a_law(0.1, 0.4);
  std::lognormal_distribution<double> b_law(0.5, 0.3);
  const double truth = std::exp(0.1 - 0.5);
  std::mt19937_64 rng(404);
  int hits = 0;
  for (int r = 0; r < kReplications; ++r) {
    const std::vector<double> a = Draw(a_law, rng, 20);
    const std::vector<double> b = Draw(b_law, rng, 25);
    hits += Contains(BootstrapRatioOfMedians(a, b, 0.95, kResamples, static_cast<std::uint64_t>(r)),
                     truth);
  }
  const double coverage = hits / static_cast<double>(kReplications);
  EXPECT_GE(coverage, 0.90);
  EXPECT_LE(coverage, 0.99);
}

// Trials x steps: each trial (group) has its own level u ~ N(0, tau), its steps add
// N(0, sigma) noise. The population median of per-group medians is mu.
std::vector<std::vector<double>> TrialsModel(std::mt19937_64& rng, std::size_t trials,
                                             std::size_t steps, double mu, double tau,
                                             double sigma) {
  std::normal_distribution<double> between(mu, tau);
  std::normal_distribution<double> within(0.0, sigma);
  std::vector<std::vector<double>> groups(trials);
  for (auto& g : groups) {
    const double level = between(rng);
    g.resize(steps);
    for (double& x : g) x = level + within(rng);
  }
  return groups;
}

double MedianOf(const std::vector<double>& v) { return Median(v); }

std::vector<double> Pool(const std::vector<std::vector<double>>& groups) {
  std::vector<double> pooled;
  for (const auto& g : groups) pooled.insert(pooled.end(), g.begin(), g.end());
  return pooled;
}

TEST(HierarchicalBootstrap, BetweenGroupShiftWidensTheInterval) {
  // Five trials at clearly different speeds, 100 quiet steps each.
  std::mt19937_64 rng(505);
  std::normal_distribution<double> noise(0.0, 0.05);
  std::vector<std::vector<double>> groups(5, std::vector<double>(100));
  for (std::size_t g = 0; g < groups.size(); ++g) {
    for (double& x : groups[g]) x = 1.0 + 0.2 * static_cast<double>(g) + noise(rng);
  }
  const Estimate hier = HierarchicalBootstrap(groups, MedianOf);
  const Estimate flat = BootstrapMedian(Pool(groups));
  EXPECT_EQ(hier.n, 5U);
  EXPECT_EQ(flat.n, 500U);
  EXPECT_NEAR(hier.value, 1.4, 0.02);
  // The flat bootstrap believes 500 independent steps pin the median to within a few
  // hundredths; only the five trials are independent, and they span 1.0 to 1.8.
  EXPECT_GT(hier.ci_hi - hier.ci_lo, 5.0 * (flat.ci_hi - flat.ci_lo));
  EXPECT_LT(hier.ci_lo, 1.25);
  EXPECT_GT(hier.ci_hi, 1.55);
}

TEST(HierarchicalBootstrap, CoverageOfTrialsModelWhereFlatBootstrapFails) {
  // 10 trials x 10 steps, between-trial sd 10x the within-trial sd. Fewer resamples than the
  // other coverage tests: each replicate costs two bootstraps of 100 draws per resample.
  constexpr int kReps = 200;
  std::mt19937_64 rng(606);
  int hier_hits = 0;
  int flat_hits = 0;
  for (int r = 0; r < kReps; ++r) {
    const auto groups = TrialsModel(rng, 10, 10, 5.0, 0.3, 0.03);
    const auto seed = static_cast<std::uint64_t>(r);
    hier_hits += Contains(HierarchicalBootstrap(groups, MedianOf, 0.95, 400, seed), 5.0);
    flat_hits += Contains(BootstrapMedian(Pool(groups), 0.95, 400, seed), 5.0);
  }
  const double hier = hier_hits / static_cast<double>(kReps);
  const double flat = flat_hits / static_cast<double>(kReps);
  // About 0.93 (2000 replications): a percentile interval for a median of 10 values runs a
  // little short of nominal.
  EXPECT_GE(hier, 0.87);
  EXPECT_LE(hier, 0.99);
  // About 0.45: pooled steps are not independent, so the flat interval is far too narrow.
  EXPECT_LT(flat, 0.6);
}

TEST(HierarchicalBootstrap, KeepsWithinGroupNoise) {
  // Identical groups: drawing groups alone would always give median 3 and a zero-width
  // interval; resampling inside each group shows how uncertain each group's median is.
  const std::vector<double> g = {1, 2, 3, 4, 5};
  const Estimate e = HierarchicalBootstrap({g, g, g}, MedianOf, 0.95, 1000, 1);
  EXPECT_EQ(e.value, 3.0);
  EXPECT_LT(e.ci_lo, 3.0);
  EXPECT_GT(e.ci_hi, 3.0);
}

TEST(HierarchicalBootstrap, SingleValueGroupsAndDeterminism) {
  // One-value groups make the inner resampling a no-op, so only the group draw moves the
  // statistic: the interval must stay inside the range of the group values.
  const std::vector<std::vector<double>> groups = {{1.0}, {2.0}, {3.0}, {4.0}, {5.0}};
  const Estimate a = HierarchicalBootstrap(groups, MedianOf, 0.95, 1000, 3);
  const Estimate b = HierarchicalBootstrap(groups, MedianOf, 0.95, 1000, 3);
  EXPECT_EQ(a.value, 3.0);
  EXPECT_EQ(a.ci_lo, b.ci_lo);
  EXPECT_EQ(a.ci_hi, b.ci_hi);
  EXPECT_GE(a.ci_lo, 1.0);
  EXPECT_LT(a.ci_lo, 3.0);
  EXPECT_GT(a.ci_hi, 3.0);
  EXPECT_LE(a.ci_hi, 5.0);
}

TEST(HierarchicalBootstrap, RejectsBadArguments) {
  EXPECT_THROW(HierarchicalBootstrap({}, MedianOf), std::invalid_argument);
  EXPECT_THROW(HierarchicalBootstrap({{1.0}, {}}, MedianOf), std::invalid_argument);
  EXPECT_THROW(HierarchicalBootstrap({{1.0}}, nullptr), std::invalid_argument);
  EXPECT_THROW(HierarchicalBootstrap({{1.0}}, [](const std::vector<double>&) { return NAN; }),
               std::invalid_argument);
}

}  // namespace
}  // namespace fwbench::stats
