#pragma once
// Data-parallel scaling (task train_ddp): how much of N processes' worth of training a
// configuration gets. Every process trains the same batch a step, so with perfect scaling a
// step takes as long on N processes as on one: efficiency = T(1) / T(N) with T the step time,
// i.e. throughput(N) / (N × throughput(1)); speed-up = N × efficiency.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/stats.h"
#include "analysis/trial_metrics.h"

namespace fwbench {

struct DdpScaling {
  std::string baseline_config;  // the same configuration on one process, one host
  int processes = 1;
  int hosts = 1;
  // Step time on one process / step time on N (medians over trial processes of each process's
  // mean steady-state step time), with the CI from HierarchicalRatio.
  stats::Estimate efficiency{0.0, 0.0, 0.0, 0, 0.95};
  stats::Estimate speedup{0.0, 0.0, 0.0, 0,
                          0.95};  // N × efficiency: throughput against one process
  double baseline_step_s = 0.0;
  double step_s = 0.0;
};

// Throws std::invalid_argument when either side has no successful trial with steady steps.
DdpScaling ComputeDdpScaling(const std::string& baseline_config, int processes, int hosts,
                             const std::vector<TrialMetrics>& baseline,
                             const std::vector<TrialMetrics>& scaled);

nlohmann::json ToJson(const DdpScaling& s);
DdpScaling DdpScalingFromJson(const nlohmann::json& j);

}  // namespace fwbench
