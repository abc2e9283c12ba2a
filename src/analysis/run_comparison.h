#pragma once
// `fwbench compare`: per configuration present in two runs, per metric, the change from run A
// to run B with a CI on the ratio, and whether it is significant — the check a user runs after
// upgrading a framework.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/run_results.h"
#include "analysis/stats.h"

namespace fwbench {

struct MetricChange {
  std::string config;
  std::string metric;  // "step time", "time to first batch", "peak RSS", "p99 latency"
  std::string unit;
  double a = 0.0;  // median of run A's trials
  double b = 0.0;
  stats::Estimate ratio{};  // B / A; > 1 means B is larger (slower for times, more memory)
  bool significant = false;
  std::string verdict;  // "slower", "faster", "more memory", "less memory", "no significant change"
};

struct Comparison {
  std::vector<MetricChange> changes;
  std::vector<std::string> only_in_a, only_in_b;  // configurations the other run lacks
  // Same id, different thread counts (the id left out the count that was the default of its
  // fwbench: all cores up to issue 19, 1 since): "ID: 2 threads in A, 1 in B"; not compared.
  std::vector<std::string> threads_differ;
};

// `threshold`: a change is significant when the 95% CI of B/A excludes 1 and the ratio is at
// least `threshold` away from 1 (e.g. 0.05: changes under 5% are not called). Inputs are two
// runs' results (docs/results.md); failed trials are left out.
Comparison CompareRuns(const RunResults& a, const RunResults& b, double threshold);

nlohmann::json ToJson(const Comparison& comparison, double threshold);

}  // namespace fwbench
