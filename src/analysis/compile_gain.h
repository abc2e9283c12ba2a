#pragma once
// Is compiling worth it? The steady-state speed-up of a compiled configuration over its eager
// twin (same backend, task, batch size, precision, memory format, threads) with a CI on the
// ratio, what compiling costs up front, and after how many steps it has paid for itself.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/stats.h"
#include "analysis/trial_metrics.h"

namespace fwbench {

struct CompileGain {
  std::string eager_config;
  // eager step time / compiled step time (medians over trial processes of each process's mean
  // steady-state step time); > 1 means compiled is faster. CI from HierarchicalRatio.
  stats::Estimate speedup{};
  bool significant = false;  // the CI excludes 1
  double compile_s = 0.0;    // median "compile" phase of the compiled trials
  // Median warm-up cost (time lost to slow early steps) of compiled minus that of eager: the
  // profiling runs and first-call specialisation compiling adds after the compile phase.
  double extra_warmup_s = 0.0;
  double eager_step_s = 0.0;  // medians of per-trial mean steady-state step time
  double compiled_step_s = 0.0;
  // Steps after which compiled has caught up, counting from the first step:
  // (compile_s + extra_warmup_s) / (eager_step_s - compiled_step_s), at least 0.
  // nullopt: compiled is not faster per step, it never pays off.
  std::optional<double> break_even_steps;
  // 95% CI of the break-even from resampling the trial processes of both configurations
  // (compile time, warm-up costs and step times move together within a process); +infinity
  // stands for "never" (in that share of resamples compiled was not faster). NaN: no interval
  // is known (a results.json written without one).
  double break_even_ci_lo = 0.0;
  double break_even_ci_hi = 0.0;
};

// Both samples need at least one successful trial with steady-state steps; throws
// std::invalid_argument otherwise.
CompileGain ComputeCompileGain(const std::string& eager_config,
                               const std::vector<TrialMetrics>& eager,
                               const std::vector<TrialMetrics>& compiled);

nlohmann::json ToJson(const CompileGain& gain);

}  // namespace fwbench
