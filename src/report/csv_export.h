#pragma once
// A run's results as two CSV files for people who continue in pandas or a spreadsheet:
// trials.csv (one row per trial, failed ones included) and configurations.csv (one row per
// configuration: medians with their 95% CIs, parity, compile gain). RFC 4180 quoting.
#include <filesystem>
#include <string>

#include "analysis/run_results.h"

namespace fwbench {

// Writes <run_dir>/trials.csv and <run_dir>/configurations.csv (atomically, each).
void WriteCsv(const std::filesystem::path& run_dir, const RunResults& results);

// One CSV field: quoted when it holds a comma, a quote, a CR or a LF (quotes doubled).
std::string CsvField(const std::string& text);

}  // namespace fwbench
