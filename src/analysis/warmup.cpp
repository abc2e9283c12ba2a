#include "analysis/warmup.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "analysis/stats.h"
#include "analysis/stats_internal.h"

namespace fwbench::stats {

WarmupResult Mser5(const std::vector<double>& series) {
  internal::RequireFinite(series, "Mser5");
  constexpr std::size_t kBatch = 5;
  const std::size_t nb = series.size() / kBatch;
  // With one batch there is nothing to compare against.
  if (nb < 2) return {0, false, 0.0};

  std::vector<double> batch_means(nb, 0.0);
  for (std::size_t i = 0; i < nb * kBatch; ++i) batch_means[i / kBatch] += series[i];
  for (double& m : batch_means) m /= static_cast<double>(kBatch);

  // Walk back from the end, growing the suffix one batch at a time with Welford's update: O(nb)
  // overall, and no sum-of-squares cancellation for step times with a tiny spread.
  const std::size_t d_max = nb / 2;
  std::vector<double> mser(d_max + 1);
  double mean = 0.0;
  double m2 = 0.0;
  for (std::size_t i = nb; i-- > 0;) {
    const auto count = static_cast<double>(nb - i);
    const double delta = batch_means[i] - mean;
    mean += delta / count;
    m2 += delta * (batch_means[i] - mean);
    if (i <= d_max) mser[i] = m2 / (count * count);
  }

  std::size_t best = 0;
  for (std::size_t d = 1; d <= d_max; ++d) {
    if (mser[d] < mser[best]) best = d;
  }
  const TrendTest trend = TrendAfterCut(series, best * kBatch);
  return {best * kBatch, !trend.trending, mser[best], trend.z, trend.batches};
}

TrendTest TrendAfterCut(const std::vector<double>& series, std::size_t truncate_steps) {
  constexpr std::size_t kMinBatch = 5;
  constexpr std::size_t kMinBatches = 5;
  // Mser5 drops an incomplete tail batch; the test sees the same steps.
  const std::size_t end = series.size() / kMinBatch * kMinBatch;
  const std::size_t kept = end > truncate_steps ? end - truncate_steps : 0;
  const std::size_t k = std::min(kTrendMaxBatches, kept / kMinBatch);
  if (k < kMinBatches) return {0.0, 0, false};
  const std::size_t len = kept / k;
  const std::size_t first = end - k * len;  // the most recent k * len steps
  // Sums of equal-length batches rank as their means do.
  std::vector<double> means(k, 0.0);
  for (std::size_t i = 0; i < k * len; ++i) means[i / len] += series[first + i];
  long s = 0;
  for (std::size_t i = 0; i < k; ++i) {
    for (std::size_t j = i + 1; j < k; ++j) s += (means[j] > means[i]) - (means[j] < means[i]);
  }
  // Var(S) without ties: n(n-1)(2n+5)/18; tied batch means (a constant series) only shrink |S|.
  const auto n = static_cast<double>(k);
  const double sd = std::sqrt(n * (n - 1) * (2 * n + 5) / 18.0);
  const double z = s == 0 ? 0.0 : (static_cast<double>(s) - (s > 0 ? 1.0 : -1.0)) / sd;
  return {z, k, std::abs(z) > kTrendZ};
}

double WarmupCost(const std::vector<double>& durations, std::size_t truncate) {
  if (truncate == 0) return 0.0;
  if (truncate >= durations.size()) {
    throw std::invalid_argument("WarmupCost: truncate " + std::to_string(truncate) +
                                " leaves no steady-state values out of " +
                                std::to_string(durations.size()));
  }
  internal::RequireFinite(durations, "WarmupCost");
  const auto cut = durations.begin() + static_cast<std::ptrdiff_t>(truncate);
  const double steady = Median(std::vector<double>(cut, durations.end()));
  double extra = 0.0;
  for (auto it = durations.begin(); it != cut; ++it) extra += *it - steady;
  return std::max(0.0, extra);
}

}  // namespace fwbench::stats
