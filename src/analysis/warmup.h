#pragma once
// Where does warm-up end? Step times of a fresh process start slow (lazy allocation, kernel
// selection, JIT, caches, clocks ramping) and settle; statistics of "steady-state speed" must
// drop that prefix, and the prefix's extra time is itself worth reporting.
#include <cstddef>
#include <vector>

namespace fwbench::stats {

struct WarmupResult {
  std::size_t truncate_steps;  // drop series[0, truncate_steps); always a multiple of 5
  // False when the steps kept after the cut still trend (TrendAfterCut: Mann-Kendall |z| >
  // kTrendZ) or the series is too short to tell (< 10 values). Then truncate_steps must not be
  // trusted as the end of warm-up: warn and/or run more steps.
  bool steady_state_found;
  double mser;           // MSER at the chosen cut (0 for < 10 values); in units of time squared
  double trend_z = 0.0;  // Mann-Kendall z of the kept steps' batch means
  std::size_t trend_batches = 0;  // how many batch means it compared (0: too few steps to test)
};

// The trend test behind "warm-up may not be over" (docs/statistics.md). The steps kept after
// the cut are split into k = min(10, kept / 5) equal batches (the most recent steps; batches of
// at least 5 steps damp the autocorrelation of consecutive step times), and the batch means get
// a Mann-Kendall test: S = sum over i < j of sign(m_j - m_i), z = (S - sign S) / sd(S). With
// fewer than 5 batches no |z| can exceed the limit: no evidence either way, no alarm.
inline constexpr double kTrendZ = 2.0;
inline constexpr std::size_t kTrendMaxBatches = 10;
struct TrendTest {
  double z = 0.0;
  std::size_t batches = 0;
  bool trending = false;  // |z| > kTrendZ with at least 5 batches
};
TrendTest TrendAfterCut(const std::vector<double>& series, std::size_t truncate_steps);

// MSER-5 (White 1997; Franklin & White 2008): average consecutive batches of 5 values (an
// incomplete tail batch is dropped), then choose the cut d in [0, nb/2] batches minimising
//   MSER(d) = sum_{i >= d} (Y_i - mean(Y_d..Y_{nb-1}))^2 / (nb - d)^2,
// i.e. the squared standard error of the remaining mean: cutting removes bias until the lost
// samples cost more precision than the bias removed. Ties go to the smallest cut. Chosen over
// fixed "skip the first k steps" because warm-up length differs by framework and model, and
// over visual or threshold rules because it needs no tuning. Empty input is allowed (too
// short); NaN or infinity throws std::invalid_argument.
// Whether the warm-up is over is then TrendAfterCut's answer, not the position of the cut: a
// minimum at the last allowed cut fired on 15% of stationary 40-step series (docs/statistics.md).
WarmupResult Mser5(const std::vector<double>& series);

// Extra time the warm-up cost compared with running at steady-state speed from the start:
// sum over i < truncate of (durations[i] - median(durations[truncate..])), clamped at 0 as a
// total (a fast step inside the prefix offsets a slow one; noise must not add up to a cost).
// truncate == 0 gives 0. Throws std::invalid_argument when truncate leaves no steady-state
// values or a value is not finite.
double WarmupCost(const std::vector<double>& durations, std::size_t truncate);

}  // namespace fwbench::stats
