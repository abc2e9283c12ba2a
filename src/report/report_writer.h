#pragma once
// Writes a run's report: report.md and a self-contained report.html in the run folder, the
// charts as charts/<id>.svg with their Vega-Lite specs in charts/specs.json.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "analysis/run_results.h"

namespace fwbench::report {

struct ReportFiles {
  std::filesystem::path markdown;
  std::filesystem::path html;
  int charts = 0;
  // (chart id, why) for each chart that did not render.
  std::vector<std::pair<std::string, std::string>> chart_errors;
};

// `charts_tool`: tools/charts (ChartsToolDir). A chart that cannot be rendered is reported in
// the page and in `chart_errors`; the report is written anyway.
ReportFiles WriteReport(const std::filesystem::path& run_dir, const RunResults& results,
                        const std::filesystem::path& charts_tool);

}  // namespace fwbench::report
