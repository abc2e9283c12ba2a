#include "analysis/warmup.h"

#include <algorithm>
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
  // A minimum at the last allowed cut means the tail is still moving: MSER would cut further
  // if allowed, so the warm-up may not be over.
  return {best * kBatch, best < d_max, mser[best]};
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
