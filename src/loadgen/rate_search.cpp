#include "loadgen/rate_search.h"

#include <fmt/format.h>

#include <stdexcept>

namespace fwbench::loadgen {

std::string Failure(const LoadPoint& p, const RateSearchOptions& o) {
  if (p.errors > 0) {
    return fmt::format("{} of {} requests failed at {:.4g}/s", p.errors, p.requests,
                       p.offered_per_s);
  }
  if (p.achieved_per_s < o.min_achieved_fraction * p.offered_per_s) {
    return fmt::format("achieved {:.4g}/s of {:.4g}/s offered (below {:.0f}%)", p.achieved_per_s,
                       p.offered_per_s, 100.0 * o.min_achieved_fraction);
  }
  if (p.p99_ns > o.p99_bound_ns) {
    return fmt::format("p99 {:.4g} ms > {:.4g} ms bound at {:.4g}/s",
                       static_cast<double>(p.p99_ns) * 1e-6,
                       static_cast<double>(o.p99_bound_ns) * 1e-6, p.offered_per_s);
  }
  return "";
}

RateSearchResult SearchMaxRate(const std::function<LoadPoint(double)>& measure,
                               const RateSearchOptions& o) {
  if (!(o.start_per_s > 0.0) || !(o.max_per_s >= o.start_per_s) || o.p99_bound_ns <= 0) {
    throw std::invalid_argument(
        "rate search: start and max rates must be positive (max ≥ start) and the p99 bound "
        "positive");
  }
  RateSearchResult result;
  const auto run = [&](double rate) {
    LoadPoint p = measure(rate);
    p.offered_per_s = rate;
    result.points.push_back(p);
    return Failure(p, o);
  };
  double pass = 0.0;
  double fail = 0.0;
  for (double rate = o.start_per_s;; rate = std::min(rate * 2.0, o.max_per_s)) {
    if (std::string why = run(rate); !why.empty()) {
      fail = rate;
      result.why_not_higher = std::move(why);
      break;
    }
    pass = rate;
    if (rate >= o.max_per_s) {
      result.why_not_higher = fmt::format("the search stops at max_per_s = {:.4g}/s", o.max_per_s);
      break;
    }
  }
  if (fail > 0.0 && pass > 0.0) {
    for (int i = 0; i < o.bisection_steps; ++i) {
      const double mid = 0.5 * (pass + fail);
      if (std::string why = run(mid); why.empty()) {
        pass = mid;
      } else {
        fail = mid;
        result.why_not_higher = std::move(why);
      }
    }
  }
  result.best_per_s = pass;
  return result;
}

}  // namespace fwbench::loadgen
