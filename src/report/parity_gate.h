#pragma once
// Applies the parity gate (analysis/parity.h) to a run: picks the reference configuration
// (libtorch eager, fp32, contiguous), compares every configuration's trials with it, and marks
// each configuration's results "parity" and "ranked".
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/run_results.h"
#include "analysis/trial_metrics.h"

namespace fwbench {

// `manifest_configs` are manifest.json's configurations (id, backend, mode, task, precision,
// memory_format, threads); `configs` the results' configurations in the same order, whose
// `parity` and `ranked` are set; a warning is appended for each failure or unchecked one.
// `probes_by_config` are the rounding probes of reference training configurations (trials.jsonl
// role "rounding_probe"): fp32 training is judged against the envelope they measure, and
// against the fixed tolerance where there is none (docs/parity.md). `reference_backend`: the
// runtime of a user model's own format (manifest user_model.reference), whose fp32
// configurations are the reference; empty for fwbench's models (libtorch eager).
void ApplyParityGate(const nlohmann::json& manifest_configs,
                     const std::map<std::string, std::vector<TrialMetrics>>& trials_by_config,
                     const std::map<std::string, std::vector<TrialMetrics>>& probes_by_config,
                     const std::filesystem::path& run_dir,
                     std::vector<ConfigurationResult>& configs, std::vector<std::string>& warnings,
                     const std::string& reference_backend = "");

}  // namespace fwbench
