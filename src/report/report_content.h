#pragma once
// What the report says about a run, as a document (report_document.h): verdict matrix with its
// evidence, snapshot tables with CIs, charts, parity, warnings, environment and provenance.
#include <string>
#include <vector>

#include "analysis/run_results.h"
#include "report/report_document.h"

namespace fwbench::report {

// `results`: the run's results (docs/results.md). `charts`: rendered (or failed) charts in the
// order they appear. `plan_toml`: the run's plan.toml (empty when the folder has none).
// `chart_renderer`: what rendered the charts ("Vega 6.4.0, Vega-Lite 6.4.1"), for provenance.
Document BuildReportDocument(const RunResults& results, const std::vector<Chart>& charts,
                             const std::string& plan_toml, const std::string& chart_renderer);

}  // namespace fwbench::report
