#include "loadgen/rate_search.h"

#include <gtest/gtest.h>

#include <cmath>

namespace fwbench::loadgen {
namespace {

// An M/M/1-like server: p99 of the sojourn time is ln(100) / (capacity − rate); past capacity
// it falls behind (achieves only its capacity).
LoadPoint Queue(double rate, double capacity) {
  LoadPoint p;
  p.requests = 10000;
  if (rate >= capacity) {
    p.achieved_per_s = capacity;
    p.p99_ns = 10'000'000'000;
    return p;
  }
  p.achieved_per_s = rate;
  p.p99_ns = static_cast<std::int64_t>(std::log(100.0) / (capacity - rate) * 1e9);
  return p;
}

TEST(RateSearch, FindsTheHighestRateWithinTheP99BoundOfAQueueingServer) {
  // capacity 1000/s, bound 50 ms: p99 = ln(100)/(1000 − r) ≤ 0.05 ⇔ r ≤ 1000 − 92.1 = 907.9/s.
  const RateSearchOptions options{
      .start_per_s = 50.0, .p99_bound_ns = 50'000'000, .bisection_steps = 10};
  const RateSearchResult r =
      SearchMaxRate([](double rate) { return Queue(rate, 1000.0); }, options);
  EXPECT_NEAR(r.best_per_s, 907.9, 2.0);
  EXPECT_LE(r.best_per_s, 907.9) << "never above the true limit";
  EXPECT_NE(r.why_not_higher.find("p99"), std::string::npos) << r.why_not_higher;
  // 50, 100, 200, 400, 800, 1600 (fails), then 10 bisections.
  EXPECT_EQ(r.points.size(), 6u + 10u);
}

TEST(RateSearch, ErrorsAndFallingBehindFailARateAndATooFastStartGivesZero) {
  RateSearchOptions options{.start_per_s = 100.0, .p99_bound_ns = 1'000'000'000};
  const RateSearchResult errors = SearchMaxRate(
      [](double rate) {
        LoadPoint p = Queue(rate, 1e6);
        if (rate > 300) p.errors = 3;  // e.g. the server's queue rejects
        return p;
      },
      options);
  EXPECT_NEAR(errors.best_per_s, 300.0, 4.0);
  EXPECT_NE(errors.why_not_higher.find("3 of 10000 requests failed"), std::string::npos)
      << errors.why_not_higher;

  options.start_per_s = 5000.0;
  const RateSearchResult slow =
      SearchMaxRate([](double rate) { return Queue(rate, 1000.0); }, options);
  EXPECT_EQ(slow.best_per_s, 0.0);
  EXPECT_EQ(slow.points.size(), 1u);
  EXPECT_NE(slow.why_not_higher.find("achieved 1000/s of 5000/s offered"), std::string::npos)
      << slow.why_not_higher;

  options.start_per_s = 100.0;
  options.max_per_s = 400.0;
  const RateSearchResult capped =
      SearchMaxRate([](double rate) { return Queue(rate, 1e6); }, options);
  EXPECT_EQ(capped.best_per_s, 400.0);
  EXPECT_NE(capped.why_not_higher.find("max_per_s"), std::string::npos);
  EXPECT_THROW(SearchMaxRate([](double) { return LoadPoint{}; }, {.start_per_s = 0.0}),
               std::invalid_argument);
}

}  // namespace
}  // namespace fwbench::loadgen
