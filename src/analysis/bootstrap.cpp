// The bootstrap half of stats.h.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>

#include "analysis/stats.h"
#include "analysis/stats_internal.h"

namespace fwbench::stats {
namespace {

using internal::PercentileInPlace;
using internal::RequireSample;

// Draws indices uniform in [0, n). std::uniform_int_distribution would be simpler, but its
// algorithm is implementation-defined (libstdc++ and libc++ turn the same engine output into
// different indices), so a seed would give different CIs on different platforms. The output of
// mt19937_64 is fixed by the standard and Lemire's multiply-and-reject method (ACM TOMACS 2019)
// is fully specified and unbiased, so a seed reproduces a CI everywhere
// (tests/analysis/golden_reference.py re-implements both to check).
class IndexDraw {
 public:
  explicit IndexDraw(std::size_t n)
      : bound_(static_cast<std::uint64_t>(n)), threshold_((std::uint64_t{0} - bound_) % bound_) {}

  std::size_t operator()(std::mt19937_64& rng) const {
    // The high 64 bits of r * n are uniform on [0, n) once products whose low 64 bits fall
    // below 2^64 mod n (threshold_) are rejected.
    U128 product = static_cast<U128>(rng()) * bound_;
    while (static_cast<std::uint64_t>(product) < threshold_) {
      product = static_cast<U128>(rng()) * bound_;
    }
    return static_cast<std::size_t>(product >> 64);
  }

 private:
  // GCC and Clang provide it on every 64-bit target; __extension__ keeps -Wpedantic quiet.
  __extension__ using U128 = unsigned __int128;
  std::uint64_t bound_;
  std::uint64_t threshold_;
};

// Medians of bootstrap resamples of x. A resample is fully described by how often each value
// was drawn, so this sorts x once, counts draws per sorted position and reads the median off the
// running count: O(n) per resample and several times faster than partially sorting a copy.
// Drawing from sorted x also makes the interval independent of the order x lists its values in.
class ResampledMedian {
 public:
  explicit ResampledMedian(const std::vector<double>& x)
      : sorted_(x), counts_(x.size()), draw_(x.size()), rank_(internal::RankOf(x.size(), 50.0)) {
    std::sort(sorted_.begin(), sorted_.end());
  }

  double operator()(std::mt19937_64& rng) {
    std::fill(counts_.begin(), counts_.end(), 0U);
    for (std::size_t i = 0; i < sorted_.size(); ++i) ++counts_[draw_(rng)];
    std::size_t j = 0;
    std::size_t below = 0;  // drawn values at sorted positions < j
    while (below + counts_[j] <= rank_.lo) below += counts_[j++];
    if (rank_.frac == 0.0) return sorted_[j];
    // Order statistic lo + 1 is another copy of sorted_[j] or the next value drawn at all.
    std::size_t k = j;
    if (below + counts_[j] <= rank_.lo + 1) {
      do ++k;
      while (counts_[k] == 0);
    }
    return internal::Interpolate(sorted_[j], sorted_[k], rank_.frac);
  }

 private:
  std::vector<double> sorted_;
  std::vector<std::uint32_t> counts_;
  IndexDraw draw_;
  internal::Rank rank_;
};

void Resample(const std::vector<double>& from, std::mt19937_64& rng, std::vector<double>& to) {
  const IndexDraw draw(from.size());
  to.resize(from.size());
  for (double& slot : to) slot = from[draw(rng)];
}

void RequireBootstrapParams(double level, int resamples, const std::string& what) {
  if (!(level > 0.0 && level < 1.0)) {
    throw std::invalid_argument(what + ": level " + std::to_string(level) +
                                " must lie strictly between 0 and 1 (e.g. 0.95)");
  }
  if (resamples < 1) {
    throw std::invalid_argument(what + ": resamples " + std::to_string(resamples) +
                                " must be at least 1 (use thousands for a stable interval)");
  }
}

// Percentile-bootstrap interval: the central `level` mass of the resampled statistics.
Estimate PercentileInterval(double value, std::vector<double>& replicates, std::size_t n,
                            double level) {
  const double tail = 100.0 * (1.0 - level) / 2.0;
  const double lo = PercentileInPlace(replicates, tail);
  const double hi = PercentileInPlace(replicates, 100.0 - tail);
  return {value, lo, hi, n, level};
}

}  // namespace

Estimate BootstrapMedian(const std::vector<double>& x, double level, int resamples,
                         std::uint64_t seed) {
  RequireSample(x, "BootstrapMedian");
  RequireBootstrapParams(level, resamples, "BootstrapMedian");
  std::mt19937_64 rng(seed);
  ResampledMedian resampled_median(x);
  std::vector<double> replicates(static_cast<std::size_t>(resamples));
  for (double& rep : replicates) rep = resampled_median(rng);
  return PercentileInterval(Median(x), replicates, x.size(), level);
}

Estimate BootstrapRatioOfMedians(const std::vector<double>& a, const std::vector<double>& b,
                                 double level, int resamples, std::uint64_t seed) {
  RequireSample(a, "BootstrapRatioOfMedians (a)");
  RequireSample(b, "BootstrapRatioOfMedians (b)");
  RequireBootstrapParams(level, resamples, "BootstrapRatioOfMedians");
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (!(b[i] > 0.0)) {
      throw std::invalid_argument("BootstrapRatioOfMedians: b[" + std::to_string(i) +
                                  "] = " + std::to_string(b[i]) +
                                  ", the denominator sample must be positive");
    }
  }
  std::mt19937_64 rng(seed);
  ResampledMedian median_a(a);
  ResampledMedian median_b(b);
  std::vector<double> replicates(static_cast<std::size_t>(resamples));
  for (double& rep : replicates) {
    const double numerator = median_a(rng);  // sequenced: a's draws come first
    rep = numerator / median_b(rng);
  }
  return PercentileInterval(Median(a) / Median(b), replicates, std::min(a.size(), b.size()), level);
}

Estimate HierarchicalBootstrap(const std::vector<std::vector<double>>& groups,
                               const std::function<double(const std::vector<double>&)>& per_group,
                               double level, int resamples, std::uint64_t seed) {
  if (groups.empty()) {
    throw std::invalid_argument("HierarchicalBootstrap: no groups, need at least one");
  }
  for (std::size_t g = 0; g < groups.size(); ++g) {
    RequireSample(groups[g], "HierarchicalBootstrap (group " + std::to_string(g) + ")");
  }
  RequireBootstrapParams(level, resamples, "HierarchicalBootstrap");
  if (!per_group) throw std::invalid_argument("HierarchicalBootstrap: per_group is empty");

  const auto checked = [&per_group](const std::vector<double>& sample, std::size_t g) {
    const double s = per_group(sample);
    if (!std::isfinite(s)) {
      throw std::invalid_argument("HierarchicalBootstrap: per_group returned " + std::to_string(s) +
                                  " for group " + std::to_string(g) + ", expected a finite number");
    }
    return s;
  };

  std::vector<double> per_group_values(groups.size());
  for (std::size_t g = 0; g < groups.size(); ++g) per_group_values[g] = checked(groups[g], g);
  const double value = PercentileInPlace(per_group_values, 50.0);

  // per_group is arbitrary (a mean, a p99, a rate), so each drawn group's resample is
  // materialised rather than counted as in ResampledMedian.
  std::mt19937_64 rng(seed);
  const IndexDraw draw_group(groups.size());
  std::vector<double> buffer;
  std::vector<double> replicates(static_cast<std::size_t>(resamples));
  for (double& rep : replicates) {
    for (double& slot : per_group_values) {
      const std::size_t g = draw_group(rng);
      Resample(groups[g], rng, buffer);
      slot = checked(buffer, g);
    }
    rep = PercentileInPlace(per_group_values, 50.0);
  }
  return PercentileInterval(value, replicates, groups.size(), level);
}

Estimate HierarchicalRatio(const std::vector<std::vector<double>>& groups_a,
                           const std::vector<std::vector<double>>& groups_b,
                           const std::function<double(const std::vector<double>&)>& per_group,
                           double level, int resamples, std::uint64_t seed) {
  if (groups_a.empty() || groups_b.empty()) {
    throw std::invalid_argument("HierarchicalRatio: both samples need at least one group");
  }
  for (const auto* groups : {&groups_a, &groups_b}) {
    for (std::size_t g = 0; g < groups->size(); ++g) {
      RequireSample((*groups)[g], "HierarchicalRatio (group " + std::to_string(g) + ")");
    }
  }
  RequireBootstrapParams(level, resamples, "HierarchicalRatio");
  if (!per_group) throw std::invalid_argument("HierarchicalRatio: per_group is empty");
  const auto checked = [&per_group](const std::vector<double>& sample) {
    const double s = per_group(sample);
    if (!std::isfinite(s)) {
      throw std::invalid_argument("HierarchicalRatio: per_group returned " + std::to_string(s) +
                                  ", expected a finite number");
    }
    return s;
  };
  const auto median_of = [&](const std::vector<std::vector<double>>& groups) {
    std::vector<double> values;
    values.reserve(groups.size());
    for (const auto& g : groups) values.push_back(checked(g));
    return PercentileInPlace(values, 50.0);
  };
  const double denominator = median_of(groups_b);
  if (!(denominator > 0.0)) {
    throw std::invalid_argument("HierarchicalRatio: the denominator's median must be positive");
  }
  const double value = median_of(groups_a) / denominator;
  std::mt19937_64 rng(seed);
  std::vector<double> buffer;
  std::vector<double> values_a(groups_a.size());
  std::vector<double> values_b(groups_b.size());
  const auto resampled_median = [&](const std::vector<std::vector<double>>& groups,
                                    std::vector<double>& values) {
    const IndexDraw draw_group(groups.size());
    for (double& slot : values) {
      Resample(groups[draw_group(rng)], rng, buffer);
      slot = checked(buffer);
    }
    return PercentileInPlace(values, 50.0);
  };
  std::vector<double> replicates(static_cast<std::size_t>(resamples));
  for (double& rep : replicates) {
    const double numerator = resampled_median(groups_a, values_a);  // a's draws come first
    const double b = resampled_median(groups_b, values_b);
    if (!(b > 0.0)) {
      throw std::invalid_argument("HierarchicalRatio: a resampled denominator is not positive");
    }
    rep = numerator / b;
  }
  return PercentileInterval(value, replicates, std::min(groups_a.size(), groups_b.size()), level);
}

namespace {

// Type-7 percentile of sorted values that may end in +infinity: a rank that touches an infinite
// value is infinite (interpolating towards infinity means nothing).
double PercentileOfSortedWithInfinity(const std::vector<double>& sorted, double p) {
  const double h = (static_cast<double>(sorted.size()) - 1.0) * p / 100.0;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const auto hi = static_cast<std::size_t>(std::ceil(h));
  if (std::isinf(sorted[hi])) return sorted[hi];
  return internal::Interpolate(sorted[lo], sorted[hi], h - std::floor(h));
}

}  // namespace

Estimate BootstrapTwoSamples(
    std::size_t na, std::size_t nb,
    const std::function<double(const std::vector<std::size_t>&, const std::vector<std::size_t>&)>&
        statistic,
    double level, int resamples, std::uint64_t seed) {
  if (na == 0 || nb == 0) {
    throw std::invalid_argument("BootstrapTwoSamples: both samples need at least one unit");
  }
  RequireBootstrapParams(level, resamples, "BootstrapTwoSamples");
  std::vector<std::size_t> ia(na), ib(nb);
  for (std::size_t i = 0; i < na; ++i) ia[i] = i;
  for (std::size_t i = 0; i < nb; ++i) ib[i] = i;
  const double value = statistic(ia, ib);
  const auto check = [](double v) {
    if (std::isnan(v) || v == -std::numeric_limits<double>::infinity()) {
      throw std::invalid_argument("BootstrapTwoSamples: the statistic must be a number or +inf");
    }
    return v;
  };
  check(value);
  std::mt19937_64 rng(seed);
  const IndexDraw draw_a(na);
  const IndexDraw draw_b(nb);
  std::vector<double> replicates(static_cast<std::size_t>(resamples));
  for (double& rep : replicates) {
    for (std::size_t& i : ia) i = draw_a(rng);
    for (std::size_t& i : ib) i = draw_b(rng);
    rep = check(statistic(ia, ib));
  }
  std::sort(replicates.begin(), replicates.end());
  const double tail = 100.0 * (1.0 - level) / 2.0;
  return {value, PercentileOfSortedWithInfinity(replicates, tail),
          PercentileOfSortedWithInfinity(replicates, 100.0 - tail), std::min(na, nb), level};
}

}  // namespace fwbench::stats
