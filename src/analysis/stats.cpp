#include "analysis/stats.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>

#include "analysis/stats_internal.h"

namespace fwbench::stats {

namespace internal {

// nth_element keeps it O(n); the value does not depend on the library's algorithm, only on the
// multiset of values.
double PercentileInPlace(std::vector<double>& v, double p) {
  const Rank rank = RankOf(v.size(), p);
  const auto lo_it = v.begin() + static_cast<std::ptrdiff_t>(rank.lo);
  std::nth_element(v.begin(), lo_it, v.end());
  if (rank.frac == 0.0 || rank.lo + 1 >= v.size()) return *lo_it;
  return Interpolate(*lo_it, *std::min_element(lo_it + 1, v.end()), rank.frac);
}

}  // namespace internal

using internal::PercentileInPlace;
using internal::RequireSample;

double Percentile(std::vector<double> v, double p) {
  RequireSample(v, "Percentile");
  if (!(p >= 0.0 && p <= 100.0)) {
    throw std::invalid_argument("Percentile: p = " + std::to_string(p) + " must lie in [0, 100]");
  }
  return PercentileInPlace(v, p);
}

double Median(std::vector<double> v) {
  RequireSample(v, "Median");
  return PercentileInPlace(v, 50.0);
}

double Mean(const std::vector<double>& v) {
  RequireSample(v, "Mean");
  double sum = 0.0;
  for (const double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

double StdDev(const std::vector<double>& v) {
  RequireSample(v, "StdDev");
  if (v.size() < 2) return 0.0;
  // Two passes: the one-pass sum-of-squares formula cancels badly for step times whose spread
  // is tiny next to their mean.
  const double mean = Mean(v);
  double ss = 0.0;
  for (const double x : v) ss += (x - mean) * (x - mean);
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

double CoefficientOfVariation(const std::vector<double>& v) {
  const double sd = StdDev(v);
  if (sd == 0.0) return 0.0;
  const double mean = Mean(v);
  if (mean == 0.0) return std::numeric_limits<double>::infinity();
  return sd / std::abs(mean);
}

std::vector<std::size_t> MadOutliers(const std::vector<double>& x, double threshold) {
  RequireSample(x, "MadOutliers");
  if (!(threshold >= 0.0)) {
    throw std::invalid_argument("MadOutliers: threshold " + std::to_string(threshold) +
                                " must be >= 0");
  }
  const double median = Median(x);
  std::vector<double> deviations(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) deviations[i] = std::abs(x[i] - median);
  const double mad = PercentileInPlace(deviations, 50.0);
  if (mad == 0.0) return {};
  // 0.6745 = Phi^-1(0.75): scales the MAD to the standard deviation for normal data.
  constexpr double kMadToSigma = 0.6745;
  std::vector<std::size_t> outliers;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (kMadToSigma * std::abs(x[i] - median) / mad > threshold) outliers.push_back(i);
  }
  return outliers;
}

}  // namespace fwbench::stats
