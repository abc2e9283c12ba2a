#pragma once
// Helpers shared by the analysis sources; not part of the public API.
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace fwbench::stats::internal {

// `what` names the function and argument, so the message says where the bad value came from.
inline void RequireNonEmpty(const std::vector<double>& v, const std::string& what) {
  if (v.empty()) throw std::invalid_argument(what + ": empty input, need at least one value");
}

inline void RequireFinite(const std::vector<double>& v, const std::string& what) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      throw std::invalid_argument(what + ": value at index " + std::to_string(i) + " is " +
                                  std::to_string(v[i]) + ", expected a finite number");
    }
  }
}

inline void RequireSample(const std::vector<double>& v, const std::string& what) {
  RequireNonEmpty(v, what);
  RequireFinite(v, what);
}

// Type 7 puts the p-th percentile of n values at 0-based rank h = (n - 1) p / 100, between order
// statistics lo = floor(h) and lo + 1. Every percentile in fwbench goes through this and
// Interpolate, so the sort-based and count-based paths agree to the last bit.
struct Rank {
  std::size_t lo;
  double frac;  // 0 means order statistic lo exactly
};

inline Rank RankOf(std::size_t n, double p) {
  const double h = (static_cast<double>(n) - 1.0) * p / 100.0;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  return {lo, h - static_cast<double>(lo)};
}

inline double Interpolate(double x_lo, double x_hi, double frac) {
  return x_lo + frac * (x_hi - x_lo);
}

// Type-7 percentile of non-empty, finite v, p in [0, 100]; reorders v instead of copying it.
double PercentileInPlace(std::vector<double>& v, double p);

}  // namespace fwbench::stats::internal
