#pragma once
// The highest request rate a server sustains within a latency bound: what "throughput at a p99
// bound" means in fwbench's deployment results (issue 7). The search is separate from the load
// itself: `measure(rate)` runs one open-loop load test at that offered rate and reports it.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace fwbench::loadgen {

// One load test's outcome at one offered rate.
struct LoadPoint {
  double offered_per_s = 0.0;
  double achieved_per_s = 0.0;  // completed requests / measured seconds
  std::int64_t p99_ns = 0;      // from the intended send times
  std::int64_t requests = 0;
  std::int64_t errors = 0;
};

struct RateSearchOptions {
  double start_per_s = 10.0;
  double max_per_s = 1e6;
  std::int64_t p99_bound_ns = 100'000'000;  // 100 ms
  double min_achieved_fraction = 0.95;      // below this the server is not keeping up
  int bisection_steps = 6;
};

struct RateSearchResult {
  double best_per_s = 0.0;        // 0: not even the starting rate met the bound
  std::vector<LoadPoint> points;  // every load test, in the order run
  std::string why_not_higher;     // what the first failing rate broke, in words
};

// A rate passes when p99 ≤ the bound, the server achieved ≥ min_achieved_fraction of the offered
// rate and no request failed. Doubles from start_per_s until a rate fails (or max_per_s passes),
// then bisects between the last pass and the first failure. Throws std::invalid_argument for
// non-positive rates or bounds.
RateSearchResult SearchMaxRate(const std::function<LoadPoint(double)>& measure,
                               const RateSearchOptions& options);

// Empty when `point` passes, else why not ("p99 140.2 ms > 100 ms bound", …).
std::string Failure(const LoadPoint& point, const RateSearchOptions& options);

}  // namespace fwbench::loadgen
