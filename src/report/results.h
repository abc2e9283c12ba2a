#pragma once
// Builds a run's results.json (schema in docs/results.md) from the raw files the orchestrator
// appended while the run went on. `fwbench report` calls the same code, so a run that was
// killed half-way still gets results for every trial that finished.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "analysis/run_results.h"

namespace fwbench {

// Reads manifest.json, env.json, trials.jsonl and events.jsonl; throws UsageError when the
// folder is not a run folder.
RunResults BuildResults(const std::filesystem::path& run_dir);

// One JSON file of a run folder (manifest.json, env.json, …); throws UsageError naming it when
// it is missing, too deep or not JSON.
nlohmann::json ReadRunJsonFile(const std::filesystem::path& path);

// Writes results.json atomically (temp file + rename) and returns its path.
std::filesystem::path WriteResults(const std::filesystem::path& run_dir, const RunResults& results);

}  // namespace fwbench
