#include "analysis/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

namespace fwbench::stats {
namespace {

// Expected percentiles below are numpy.percentile (linear, type 7) values, worked by hand:
// h = (n - 1) * p / 100, result = x[floor(h)] + frac(h) * (x[floor(h) + 1] - x[floor(h)]).

TEST(Percentile, MatchesNumpyType7) {
  EXPECT_DOUBLE_EQ(Percentile({1, 2, 3, 4}, 90), 3.7);           // h = 2.7
  EXPECT_DOUBLE_EQ(Percentile({1, 2, 3, 4}, 25), 1.75);          // h = 0.75
  EXPECT_DOUBLE_EQ(Percentile({4, 3, 2, 1}, 25), 1.75);          // order of input is irrelevant
  EXPECT_DOUBLE_EQ(Percentile({15, 20, 35, 40, 50}, 40), 29.0);  // h = 1.6
  EXPECT_DOUBLE_EQ(Percentile({50, 15, 40, 20, 35}, 5), 16.0);   // h = 0.2
  EXPECT_DOUBLE_EQ(Percentile({1, 2, 3, 4}, 0), 1.0);
  EXPECT_DOUBLE_EQ(Percentile({1, 2, 3, 4}, 100), 4.0);
  EXPECT_DOUBLE_EQ(Percentile({7}, 33), 7.0);
}

TEST(Percentile, Ties) {
  const std::vector<double> v = {2, 1, 2, 3, 2};  // sorted: 1 2 2 2 3
  EXPECT_DOUBLE_EQ(Percentile(v, 75), 2.0);       // h = 3
  EXPECT_DOUBLE_EQ(Percentile(v, 90), 2.6);       // h = 3.6
  EXPECT_DOUBLE_EQ(Percentile(v, 10), 1.4);       // h = 0.4
}

TEST(Percentile, RejectsBadArguments) {
  EXPECT_THROW(Percentile({}, 50), std::invalid_argument);
  EXPECT_THROW(Percentile({1, 2}, -0.1), std::invalid_argument);
  EXPECT_THROW(Percentile({1, 2}, 100.1), std::invalid_argument);
  EXPECT_THROW(Percentile({1, 2}, NAN), std::invalid_argument);
  EXPECT_THROW(Percentile({1, NAN}, 50), std::invalid_argument);
  EXPECT_THROW(Percentile({1, INFINITY}, 50), std::invalid_argument);
}

TEST(Median, OddEvenTiesAndSingle) {
  EXPECT_DOUBLE_EQ(Median({3, 1, 2}), 2.0);
  EXPECT_DOUBLE_EQ(Median({4, 1, 3, 2}), 2.5);
  EXPECT_DOUBLE_EQ(Median({5, 5, 1, 5}), 5.0);
  EXPECT_DOUBLE_EQ(Median({-2.5}), -2.5);
  EXPECT_THROW(Median({}), std::invalid_argument);
}

TEST(Moments, KnownValues) {
  const std::vector<double> v = {2, 4, 4, 4, 5, 5, 7, 9};  // sum of squared deviations 32
  EXPECT_DOUBLE_EQ(Mean(v), 5.0);
  EXPECT_DOUBLE_EQ(StdDev(v), std::sqrt(32.0 / 7.0));
  EXPECT_DOUBLE_EQ(CoefficientOfVariation(v), std::sqrt(32.0 / 7.0) / 5.0);
  EXPECT_DOUBLE_EQ(CoefficientOfVariation({-1, -3}), std::sqrt(2.0) / 2.0);  // |mean|
}

TEST(Moments, DegenerateInputs) {
  EXPECT_DOUBLE_EQ(StdDev({3}), 0.0);
  EXPECT_DOUBLE_EQ(CoefficientOfVariation({3}), 0.0);
  EXPECT_DOUBLE_EQ(CoefficientOfVariation({4, 4, 4, 4}), 0.0);
  EXPECT_DOUBLE_EQ(CoefficientOfVariation({0, 0}), 0.0);
  EXPECT_TRUE(std::isinf(CoefficientOfVariation({-1, 1})));
  // Two-pass variance survives a large offset that the one-pass formula would cancel away.
  EXPECT_NEAR(StdDev({1e9 + 1, 1e9 + 2, 1e9 + 3}), 1.0, 1e-9);
  EXPECT_THROW(Mean({}), std::invalid_argument);
  EXPECT_THROW(StdDev({}), std::invalid_argument);
  EXPECT_THROW(CoefficientOfVariation({}), std::invalid_argument);
}

TEST(MadOutliers, FlagsOnlyTheFarValues) {
  // median 10, |deviations| 0 1 1 2 2 90 50 -> MAD 2; z(100) = 30.4, z(-40) = 16.9, z(12) = 0.67
  const std::vector<double> v = {10, 11, 9, 12, 8, 100, -40};
  EXPECT_EQ(MadOutliers(v), (std::vector<std::size_t>{5, 6}));
  // z(12) = 0.6745 * 2 / 2: a threshold just under it flags the +-2 values too.
  EXPECT_EQ(MadOutliers(v, 0.6), (std::vector<std::size_t>{3, 4, 5, 6}));
}

TEST(MadOutliers, ZeroMadFlagsNothing) {
  EXPECT_TRUE(MadOutliers({5, 5, 5, 5, 1000}).empty());
  EXPECT_TRUE(MadOutliers({1}).empty());
  EXPECT_THROW(MadOutliers({}), std::invalid_argument);
  EXPECT_THROW(MadOutliers({1, 2}, -1), std::invalid_argument);
}

TEST(BootstrapMedian, ConstantAndSingleValueAreDegenerate) {
  const Estimate c = BootstrapMedian({4, 4, 4, 4, 4});
  EXPECT_EQ(c.value, 4.0);
  EXPECT_EQ(c.ci_lo, 4.0);
  EXPECT_EQ(c.ci_hi, 4.0);
  EXPECT_EQ(c.n, 5U);
  EXPECT_EQ(c.level, 0.95);

  const Estimate one = BootstrapMedian({2.5}, 0.9);
  EXPECT_EQ(one.value, 2.5);
  EXPECT_EQ(one.ci_lo, 2.5);
  EXPECT_EQ(one.ci_hi, 2.5);
  EXPECT_EQ(one.n, 1U);
  EXPECT_EQ(one.level, 0.9);
}

TEST(BootstrapMedian, ThreeValuesGiveMinToMax) {
  // The resampled median of {x1 < x2 < x3} is x1 or x3 with probability 7/27 each, far more
  // than 2.5%, so the 95% interval is [min, max] (coverage 75% for a continuous law, see
  // ThreeSampleCoverageIsOnly75Percent).
  const Estimate e = BootstrapMedian({3, 1, 2});
  EXPECT_EQ(e.value, 2.0);
  EXPECT_EQ(e.ci_lo, 1.0);
  EXPECT_EQ(e.ci_hi, 3.0);
}

TEST(BootstrapMedian, RejectsBadArguments) {
  EXPECT_THROW(BootstrapMedian({}), std::invalid_argument);
  EXPECT_THROW(BootstrapMedian({1, 2}, 0.0), std::invalid_argument);
  EXPECT_THROW(BootstrapMedian({1, 2}, 1.0), std::invalid_argument);
  EXPECT_THROW(BootstrapMedian({1, 2}, 0.95, 0), std::invalid_argument);
  EXPECT_THROW(BootstrapMedian({1, NAN}), std::invalid_argument);
}

TEST(BootstrapMedian, SameSeedSameEstimate) {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal(10.0, 2.0);
  std::vector<double> x(25);
  for (double& v : x) v = normal(rng);

  const Estimate a = BootstrapMedian(x, 0.95, 2000, 42);
  const Estimate b = BootstrapMedian(x, 0.95, 2000, 42);
  EXPECT_EQ(a.value, b.value);
  EXPECT_EQ(a.ci_lo, b.ci_lo);
  EXPECT_EQ(a.ci_hi, b.ci_hi);
  EXPECT_EQ(a.n, b.n);
  EXPECT_LT(a.ci_lo, a.value);
  EXPECT_GT(a.ci_hi, a.value);
}

TEST(BootstrapMedian, InputOrderDoesNotMatter) {
  // Resampling draws positions in the sorted sample: listing trials in another order must not
  // change a reported interval.
  const std::vector<double> x = {3.1, 2.7, 4.4, 2.9, 3.6, 5.0, 3.3, 2.8};
  const std::vector<double> shuffled = {5.0, 2.8, 3.3, 2.7, 3.6, 4.4, 3.1, 2.9};
  const Estimate a = BootstrapMedian(x, 0.95, 1000, 5);
  const Estimate b = BootstrapMedian(shuffled, 0.95, 1000, 5);
  EXPECT_EQ(a.ci_lo, b.ci_lo);
  EXPECT_EQ(a.ci_hi, b.ci_hi);
}

// The engine's output is fixed by the standard ([rand.predef]); if this fails, the standard
// library is broken, not the bootstrap.
TEST(Determinism, Mt19937_64IsTheStandardEngine) {
  std::mt19937_64 engine;
  engine.discard(9999);
  EXPECT_EQ(engine(), 9981545732273789042ULL);
}

// With the hand-rolled index draw, an interval depends only on data and seed. These numbers
// come from golden_reference.py, an independent implementation (mt19937_64 from the standard,
// the same index draw); if they change, results files stop being reproducible (e.g. someone
// switched to std::uniform_int_distribution, whose output differs by library).
TEST(Determinism, GoldenIntervals) {
  const std::vector<double> x = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  const Estimate m = BootstrapMedian(x, 0.9, 500, 7);
  EXPECT_EQ(m.value, 6.0);
  EXPECT_DOUBLE_EQ(m.ci_lo, 3.9499999999999957);  // 3 + 0.95 with h = 24.95 in binary
  EXPECT_DOUBLE_EQ(m.ci_hi, 9.0);

  // Ratios take many distinct values, so a different draw would show in the digits.
  const std::vector<double> a = {1.13, 0.97, 1.42, 1.05, 1.21, 0.88, 1.30};
  const std::vector<double> b = {2.04, 2.31, 1.87, 2.12, 2.56, 1.99};
  const Estimate r = BootstrapRatioOfMedians(a, b, 0.95, 500, 11);
  EXPECT_DOUBLE_EQ(r.value, 1.13 / ((2.04 + 2.12) / 2.0));
  EXPECT_DOUBLE_EQ(r.ci_lo, 0.4379232505643341);
  EXPECT_DOUBLE_EQ(r.ci_hi, 0.6451612903225806);
}

TEST(BootstrapRatioOfMedians, PointValueAndDegenerateCase) {
  const Estimate e = BootstrapRatioOfMedians({6, 6, 6}, {2, 2, 2, 2});
  EXPECT_EQ(e.value, 3.0);
  EXPECT_EQ(e.ci_lo, 3.0);
  EXPECT_EQ(e.ci_hi, 3.0);
  EXPECT_EQ(e.n, 3U);
  EXPECT_DOUBLE_EQ(BootstrapRatioOfMedians({1, 2, 9}, {4, 8, 5, 7}).value, 2.0 / 6.0);
}

TEST(BootstrapRatioOfMedians, RejectsBadArguments) {
  EXPECT_THROW(BootstrapRatioOfMedians({}, {1}), std::invalid_argument);
  EXPECT_THROW(BootstrapRatioOfMedians({1}, {}), std::invalid_argument);
  EXPECT_THROW(BootstrapRatioOfMedians({1}, {1, 0}), std::invalid_argument);
  EXPECT_THROW(BootstrapRatioOfMedians({1}, {1, -2}), std::invalid_argument);
}

TEST(BootstrapRatioOfMedians, Deterministic) {
  const std::vector<double> a = {1.1, 1.3, 0.9, 1.7, 1.2, 1.0};
  const std::vector<double> b = {2.1, 2.0, 2.6, 1.9, 2.2};
  const Estimate x = BootstrapRatioOfMedians(a, b, 0.95, 1000, 9);
  const Estimate y = BootstrapRatioOfMedians(a, b, 0.95, 1000, 9);
  EXPECT_EQ(x.value, y.value);
  EXPECT_EQ(x.ci_lo, y.ci_lo);
  EXPECT_EQ(x.ci_hi, y.ci_hi);
  // The seed matters: another one moves at least one end of the interval.
  const Estimate z = BootstrapRatioOfMedians(a, b, 0.95, 1000, 10);
  EXPECT_TRUE(x.ci_lo != z.ci_lo || x.ci_hi != z.ci_hi);
  EXPECT_LT(x.ci_lo, x.value);
  EXPECT_GT(x.ci_hi, x.value);
}

}  // namespace
}  // namespace fwbench::stats

namespace fwbench::stats {
namespace {

TEST(BootstrapTwoSamples, ResamplesBothSamplesAndKeepsInfiniteBoundsInfinite) {
  const std::vector<double> a = {1, 2, 3, 4, 5};
  const std::vector<double> b = {2, 2, 2};
  const auto difference = [&](const std::vector<std::size_t>& ia,
                              const std::vector<std::size_t>& ib) {
    std::vector<double> xa, xb;
    for (std::size_t i : ia) xa.push_back(a[i]);
    for (std::size_t i : ib) xb.push_back(b[i]);
    const double d = Median(xa) - Median(xb);
    return d > 0 ? 1.0 / d : std::numeric_limits<double>::infinity();
  };
  const Estimate e = BootstrapTwoSamples(a.size(), b.size(), difference);
  EXPECT_DOUBLE_EQ(e.value, 1.0);  // 1 / (3 - 2)
  EXPECT_EQ(e.n, 3u);
  EXPECT_GT(e.ci_lo, 0.0);
  EXPECT_LE(e.ci_lo, e.value);
  // Resamples of a with median <= 2 are common enough to reach the upper tail.
  EXPECT_TRUE(std::isinf(e.ci_hi));
  const Estimate again = BootstrapTwoSamples(a.size(), b.size(), difference);
  EXPECT_EQ(again.ci_lo, e.ci_lo);  // a fixed seed: the same interval every time
  EXPECT_THROW(BootstrapTwoSamples(0, 3, difference), std::invalid_argument);
  EXPECT_THROW(BootstrapTwoSamples(2, 2, [](const auto&, const auto&) { return std::nan(""); }),
               std::invalid_argument);
}

}  // namespace
}  // namespace fwbench::stats
