#pragma once
// Where does warm-up end? Step times of a fresh process start slow (lazy allocation, kernel
// selection, JIT, caches, clocks ramping) and settle; statistics of "steady-state speed" must
// drop that prefix, and the prefix's extra time is itself worth reporting.
#include <cstddef>
#include <vector>

namespace fwbench::stats {

struct WarmupResult {
  std::size_t truncate_steps;  // drop series[0, truncate_steps); always a multiple of 5
  // False when the series never settled within its first half (the best cut is the last one
  // allowed: still trending) or is too short to tell (< 10 values). Then truncate_steps must
  // not be trusted as the end of warm-up: warn and/or run more steps.
  bool steady_state_found;
  double mser;  // MSER at the chosen cut (0 for < 10 values); in units of time squared
};

// MSER-5 (White 1997; Franklin & White 2008): average consecutive batches of 5 values (an
// incomplete tail batch is dropped), then choose the cut d in [0, nb/2] batches minimising
//   MSER(d) = sum_{i >= d} (Y_i - mean(Y_d..Y_{nb-1}))^2 / (nb - d)^2,
// i.e. the squared standard error of the remaining mean: cutting removes bias until the lost
// samples cost more precision than the bias removed. Ties go to the smallest cut. Chosen over
// fixed "skip the first k steps" because warm-up length differs by framework and model, and
// over visual or threshold rules because it needs no tuning. Empty input is allowed (too
// short); NaN or infinity throws std::invalid_argument.
WarmupResult Mser5(const std::vector<double>& series);

// Extra time the warm-up cost compared with running at steady-state speed from the start:
// sum over i < truncate of (durations[i] - median(durations[truncate..])), clamped at 0 as a
// total (a fast step inside the prefix offsets a slow one; noise must not add up to a cost).
// truncate == 0 gives 0. Throws std::invalid_argument when truncate leaves no steady-state
// values or a value is not finite.
double WarmupCost(const std::vector<double>& durations, std::size_t truncate);

}  // namespace fwbench::stats
