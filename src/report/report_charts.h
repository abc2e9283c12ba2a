#pragma once
// The report's charts: Vega-Lite specs built from a run's results, rendered to SVG by Vega
// (tools/charts/render.mjs, npm packages pinned in its package-lock.json). The specs are kept
// beside the SVGs (charts/specs.json) so anyone can re-render or restyle them.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/run_results.h"

namespace fwbench::report {

struct ChartSpec {
  std::string id;     // file name: charts/<id>.svg
  std::string title;  // what it shows, with units
  std::string note;   // how to read it
  nlohmann::json spec;
};

// Throughput with CI whiskers per task and batch size, time to first batch as stacked phases,
// inference latency (p50, p99) against batch size. Configurations that did not pass the parity
// gate are drawn, but greyed and labelled.
std::vector<ChartSpec> BuildChartSpecs(const RunResults& results);

struct RenderedCharts {
  std::vector<std::string> svg;    // per spec, in order; empty when that chart failed
  std::vector<std::string> error;  // per spec: why it failed
  std::string renderer;            // "Vega 6.4.0, Vega-Lite 6.4.1", when the renderer ran
};

// tools/charts of this source tree: $FWBENCH_CHARTS_DIR, else next to the build folder the
// binary lives in, else the source tree it was configured from.
std::filesystem::path ChartsToolDir(const std::filesystem::path& self_exe);

// Writes `out_dir`/specs.json and renders every chart to `out_dir`/<id>.svg with Node
// ($FWBENCH_NODE, else node). Never throws for a renderer problem: a missing Node or npm
// package, a crash or a bad spec becomes that chart's error, so the report is still written.
RenderedCharts RenderCharts(const std::vector<ChartSpec>& charts,
                            const std::filesystem::path& out_dir,
                            const std::filesystem::path& tool_dir);

}  // namespace fwbench::report
