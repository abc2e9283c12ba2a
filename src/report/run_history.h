#pragma once
// The history of runs: every run is indexed in <results>/history.sqlite when it finishes (and
// again when it is re-analysed), so `fwbench history` can list them and `fwbench compare`
// can take their ids.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "analysis/run_results.h"

namespace fwbench {

struct HistoryEntry {
  std::string run_id;
  std::string path;  // the run folder, absolute
  std::string started_utc;
  std::string machine;  // CPU model and usable cores
  std::string plan;     // plan name
  int configurations = 0;
  int trials_ok = 0;
  int trials_failed = 0;
  bool complete = false;
  std::string headline;  // the fastest ranked configuration per task, e.g. "infer: …"
};

// Inserts or replaces the run's entry in <results_dir>/history.sqlite (created on first use).
void IndexRun(const std::filesystem::path& results_dir, const std::filesystem::path& run_dir,
              const RunResults& results);

// All entries, oldest first. An absent database is an empty history.
std::vector<HistoryEntry> ReadHistory(const std::filesystem::path& results_dir);

// A run given by folder path or by run id (or a unique prefix of one) from the history; throws
// UsageError naming what was looked for when it is neither.
std::filesystem::path ResolveRun(const std::string& what, const std::filesystem::path& results_dir);

HistoryEntry SummariseRun(const std::filesystem::path& run_dir, const RunResults& results);

}  // namespace fwbench
