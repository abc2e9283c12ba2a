#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "loadgen/arrival_schedule.h"
#include "loadgen/latency_histogram.h"

namespace fwbench::loadgen {
namespace {

TEST(LatencyHistogram, PercentilesAreWithinAThousandthOfTheExactOnesAndMinMaxAreExact) {
  std::mt19937_64 rng(7);
  // Log-normal latencies around 2 ms with a long tail, plus a few sub-2 µs values.
  std::lognormal_distribution<double> latency(std::log(2e6), 0.8);
  std::vector<std::int64_t> values;
  LatencyHistogram h;
  for (int i = 0; i < 200000; ++i) {
    const auto v = static_cast<std::int64_t>(i % 1000 == 0 ? i % 1900 : latency(rng));
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  EXPECT_EQ(h.count(), 200000);
  EXPECT_EQ(h.min(), values.front());
  EXPECT_EQ(h.max(), values.back());
  for (const double p : {1.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * values.size())) - 1;
    const double exact = static_cast<double>(values[rank]);
    const double got = static_cast<double>(h.ValueAtPercentile(p));
    EXPECT_LE(std::abs(got - exact), exact / 1024.0 + 1.0) << "p" << p;
    EXPECT_GE(got, exact) << "p" << p << ": the bucket's highest value, never below";
  }
  EXPECT_EQ(h.ValueAtPercentile(100), values.back());
  EXPECT_EQ(h.ValueAtPercentile(0), values.front());
  EXPECT_THROW(h.ValueAtPercentile(101), std::invalid_argument);
}

TEST(LatencyHistogram, SmallValuesAreExactMergingLosesNothingAndHugeValuesSaturate) {
  LatencyHistogram a, b, all;
  for (std::int64_t v = 0; v < 2048; ++v) {
    (v % 2 ? a : b).Record(v);
    all.Record(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  for (const double p : {10.0, 50.0, 99.0}) {
    EXPECT_EQ(a.ValueAtPercentile(p), all.ValueAtPercentile(p));
  }
  EXPECT_EQ(a.ValueAtPercentile(50), 1023) << "below 2048 ns every value has its own bucket";
  EXPECT_DOUBLE_EQ(a.mean(), 1023.5);
  EXPECT_FALSE(a.saturated());
  a.Record(std::int64_t{1} << 60);
  EXPECT_TRUE(a.saturated());
  EXPECT_EQ(a.max(), LatencyHistogram::kMaxValueNs);
  LatencyHistogram empty;
  EXPECT_EQ(empty.ValueAtPercentile(99), 0);
}

TEST(ArrivalSchedule, ConstantRateIsExactAndPoissonHasItsRateAndIsReproducible) {
  ArrivalSchedule constant(ArrivalSchedule::Kind::kConstant, 3000.0, 1);
  std::int64_t last = -1;
  for (int i = 0; i < 3000; ++i) {
    const std::int64_t t = constant.Next();
    EXPECT_GT(t, last);
    last = t;
  }
  EXPECT_EQ(last, 999666667) << "request 2999 at 2999/3000 s, without drift";

  ArrivalSchedule p1(ArrivalSchedule::Kind::kPoisson, 1000.0, 42);
  ArrivalSchedule p2(ArrivalSchedule::Kind::kPoisson, 1000.0, 42);
  ArrivalSchedule p3(ArrivalSchedule::Kind::kPoisson, 1000.0, 43);
  std::int64_t t1 = 0, t3 = 0;
  std::vector<double> gaps;
  std::int64_t previous = 0;
  for (int i = 0; i < 100000; ++i) {
    t1 = p1.Next();
    EXPECT_EQ(t1, p2.Next()) << "same seed, same schedule";
    t3 = p3.Next();
    gaps.push_back(static_cast<double>(t1 - previous));
    previous = t1;
  }
  EXPECT_NE(t1, t3);
  // 100 000 arrivals at 1000/s: about 100 s (the sum of exponential gaps has a relative SD of
  // 1/√n = 0.3%).
  EXPECT_NEAR(static_cast<double>(t1) * 1e-9, 100.0, 1.5);
  // Exponential gaps: the coefficient of variation is 1.
  double mean = 0, var = 0;
  for (double g : gaps) mean += g / gaps.size();
  for (double g : gaps) var += (g - mean) * (g - mean) / gaps.size();
  EXPECT_NEAR(std::sqrt(var) / mean, 1.0, 0.02);
  EXPECT_THROW(ArrivalSchedule(ArrivalSchedule::Kind::kPoisson, 0.0, 1), std::invalid_argument);
}

}  // namespace
}  // namespace fwbench::loadgen
