#pragma once
// The verdict matrix: for each criterion a user decides on (cold start, inference latency,
// inference throughput, memory, training throughput, compile gain, portability, deployment),
// the winning configuration — or "tie — within noise" when the 95% CI of its advantage over the
// runner-up includes no advantage or the advantage is under a threshold. Only configurations
// that passed the parity gate (ranked) compete; the others are listed as excluded with the
// reason. Compile gain compares a compiled configuration with its own eager twin; portability
// counts the run's tasks each backend ran with parity (exact counts, no ratio); deployment is
// a row without a winner until a run measures it.
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/stats.h"

namespace fwbench {

struct RunResults;

struct Verdict {
  std::string criterion;  // "inference latency (batch 1)"
  std::string metric;     // results metric name, e.g. "latency_p50_ms"
  bool higher_is_better = false;
  std::string winner;           // configuration id; empty when there is nothing to rank
  std::string runner_up;        // empty when only one configuration competed
  stats::Estimate advantage{};  // winner over runner-up, > 1 = better (speed-up, × less memory)
  bool tie = false;             // the advantage is not real: CI includes 1 or under threshold
  // Fewer than kMinTrialsForVerdict trials behind one side: a bootstrap of one or two values
  // gives a CI of no width, not a confidence. No winner is named (tie is set too); the verdict
  // says "undecided" and how many trials it needs.
  bool too_few_trials = false;
  std::vector<std::string> excluded;  // "config: parity fail" — not ranked
  std::string evidence;               // one line with the figures behind the verdict
  bool ratio = true;  // `advantage` is a measured ratio; false for counts and unmeasured rows
};

inline constexpr std::size_t kMinTrialsForVerdict = 3;

// `threshold`: the smallest advantage called a win (0.05 = 5%). The results' own verdicts are
// not read.
std::vector<Verdict> BuildVerdicts(const RunResults& results, double threshold);

// "pick X if you care about Y" lines, generated from the verdicts (ties say so).
std::vector<std::string> PickLines(const std::vector<Verdict>& verdicts);

nlohmann::json ToJson(const Verdict& verdict);
Verdict VerdictFromJson(const nlohmann::json& verdict);

}  // namespace fwbench
