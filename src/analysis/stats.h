#pragma once
// Descriptive statistics and bootstrap confidence intervals for benchmark samples. Everything
// here is a pure function of its arguments (bootstraps take an explicit seed), so a results
// file can be re-analysed bit for bit. Formulas and limits: docs/statistics.md.
//
// Every function throws std::invalid_argument on empty input or on a NaN/infinite value: a
// timing that is not a finite number means something upstream broke, and sorting NaN is UB.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace fwbench::stats {

// Default seed of the bootstraps; any fixed value works, it only has to be the same every run.
inline constexpr std::uint64_t kDefaultSeed = 0x5eed;

// The p-th percentile, p in [0, 100], interpolating linearly between order statistics
// (Hyndman & Fan type 7, the default of R's quantile() and numpy.percentile), so numbers match
// what users get when they re-analyse a results file with those tools.
double Percentile(std::vector<double> v, double p);
double Median(std::vector<double> v);  // Percentile(v, 50)

double Mean(const std::vector<double>& v);
// Sample standard deviation (divisor n - 1); 0 for n < 2, where the spread is unknown.
double StdDev(const std::vector<double>& v);
// StdDev / |Mean|; 0 for n < 2 and for a constant series. +infinity when the mean is 0 but
// the values differ: the relative spread is unbounded.
double CoefficientOfVariation(const std::vector<double>& v);

// A point estimate with a two-sided confidence interval [ci_lo, ci_hi] at confidence `level`
// (e.g. 0.95). `n` is the number of independent units the interval rests on (see each
// function); report it next to the interval, a CI from 3 units is much weaker than one from 30.
struct Estimate {
  double value;
  double ci_lo;
  double ci_hi;
  std::size_t n;
  double level;
};

// Median of x with a percentile-bootstrap CI (Efron 1979): resample x with replacement
// `resamples` times and take the (1-level)/2 and (1+level)/2 percentiles of the resampled
// medians. Percentile bootstrap because timings are skewed and the median has no usable
// closed-form standard error. n == 1 gives the degenerate CI [x, x]. Deterministic given seed,
// on every platform, and independent of the order of x. n = x.size().
Estimate BootstrapMedian(const std::vector<double>& x, double level = 0.95, int resamples = 4000,
                         std::uint64_t seed = kDefaultSeed);

// median(a) / median(b), e.g. a speed-up, with a CI from resampling a and b independently
// (the two samples come from different processes). Every value of b must be > 0 so that no
// resampled denominator is 0. n = min(a.size(), b.size()): the smaller sample limits precision.
Estimate BootstrapRatioOfMedians(const std::vector<double>& a, const std::vector<double>& b,
                                 double level = 0.95, int resamples = 4000,
                                 std::uint64_t seed = kDefaultSeed);

// Two-level bootstrap for samples nested in groups, e.g. steady-state step times (samples)
// of trial processes (groups). The statistic is the median over groups of per_group(group).
// Each resample draws groups with replacement, then resamples each drawn group's samples with
// replacement, and recomputes the statistic.
//
// Why: steps of one process share that process's state (allocator layout, chosen kernels,
// clocks, placement), so they are correlated and the process, not the step, is the independent
// unit; between-process variance usually dominates. A flat bootstrap over pooled steps treats
// thousands of steps as independent and gives intervals far too narrow. Resampling at the
// second level too keeps within-process noise in the interval when groups are few; it makes
// the interval slightly conservative (Davison & Hinkley 1997, sec. 3.8), the safe side.
// n = groups.size(). Every group must be non-empty; per_group must return a finite number.
Estimate HierarchicalBootstrap(const std::vector<std::vector<double>>& groups,
                               const std::function<double(const std::vector<double>&)>& per_group,
                               double level = 0.95, int resamples = 2000,
                               std::uint64_t seed = kDefaultSeed);

// median over groups_a of per_group / median over groups_b of per_group, e.g. a speed-up of
// one configuration over another from their trial processes' step times, with a CI from
// resampling both samples at both levels, independently (different processes). per_group must
// be positive on groups_b. n = min(groups_a.size(), groups_b.size()).
Estimate HierarchicalRatio(const std::vector<std::vector<double>>& groups_a,
                           const std::vector<std::vector<double>>& groups_b,
                           const std::function<double(const std::vector<double>&)>& per_group,
                           double level = 0.95, int resamples = 2000,
                           std::uint64_t seed = kDefaultSeed);

// A statistic of two independent samples of units (e.g. the trial processes of an eager and a
// compiled configuration) with a percentile-bootstrap CI: each resample draws na indices into
// the first sample and nb into the second, with replacement, and evaluates statistic(ia, ib);
// the estimate is the statistic of the samples as they are (indices 0..n-1). The statistic may
// be +infinity (e.g. "never breaks even"): a bound that falls among infinite replicates is
// +infinity. NaN is an error. n = min(na, nb).
Estimate BootstrapTwoSamples(
    std::size_t na, std::size_t nb,
    const std::function<double(const std::vector<std::size_t>& ia,
                               const std::vector<std::size_t>& ib)>& statistic,
    double level = 0.95, int resamples = 2000, std::uint64_t seed = kDefaultSeed);

// Indices (ascending) of values whose modified z-score 0.6745 * |x - median| / MAD exceeds
// threshold (Iglewicz & Hoaglin 1993; 3.5 is their recommendation). Median and MAD because a
// mean/stddev rule is dragged by the very outliers it should find. MAD == 0 (more than half the
// values equal) flags nothing: the scale is unknown.
std::vector<std::size_t> MadOutliers(const std::vector<double>& x, double threshold = 3.5);

}  // namespace fwbench::stats
