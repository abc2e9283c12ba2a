// The report's charts: Vega-Lite specs from results, and rendering them with Vega (or saying
// clearly why not).
#include "report/report_charts.h"

#include <stdlib.h>

#include <gtest/gtest.h>

#include <fstream>

#include "analysis/run_results.h"
#include "sample_results.h"

namespace fwbench::report {
namespace {

const ChartSpec& Find(const std::vector<ChartSpec>& charts, const std::string& id) {
  for (const ChartSpec& c : charts) {
    if (c.id == id) return c;
  }
  throw std::runtime_error("no chart " + id);
}

std::filesystem::path FreshDir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("fwbench_charts_" + name);
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(ReportCharts, ThroughputPerTaskAndBatchTtfbPhasesAndLatencyAgainstBatch) {
  const auto charts = BuildChartSpecs(RunResultsFromJson(testing::SampleResults()));
  std::vector<std::string> ids;
  for (const auto& c : charts) ids.push_back(c.id);
  EXPECT_EQ(ids,
            (std::vector<std::string>{"throughput-train-b16", "throughput-infer-b1",
                                      "throughput-infer-b8", "ttfb-phases", "latency-vs-batch"}));
  // Inference at batch 1: three configurations, labelled without the shared task and batch;
  // the one that failed parity is drawn as not ranked, with its CI as the whisker.
  const auto& values = Find(charts, "throughput-infer-b1").spec["data"]["values"];
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(values[2]["config"], "other/fast");
  EXPECT_EQ(values[2]["status"], "not ranked (parity)");
  EXPECT_EQ(values[0]["status"], "parity checked");
  EXPECT_DOUBLE_EQ(values[1]["lo"].get<double>(), 380.0);
  EXPECT_DOUBLE_EQ(values[1]["hi"].get<double>(), 420.0);
  // Every configuration's phases are stacked, in the conventional order.
  const auto& ttfb = Find(charts, "ttfb-phases").spec;
  EXPECT_EQ(ttfb["layer"][0]["data"]["values"].size(), 6u * 3u);
  EXPECT_EQ(ttfb["layer"][0]["encoding"]["color"]["scale"]["domain"],
            (nlohmann::json{"exec", "build", "first_step"}));
  // p50 and p99 for each of the four inference configurations.
  EXPECT_EQ(Find(charts, "latency-vs-batch").spec["data"]["values"].size(), 8u);
}

TEST(ReportCharts, AMissingRendererBecomesEachChartsErrorNotAFailure) {
  const auto dir = FreshDir("missing");
  const auto charts = BuildChartSpecs(RunResultsFromJson(testing::SampleResults()));
  const RenderedCharts r = RenderCharts(charts, dir, "/nonexistent/tools/charts");
  ASSERT_EQ(r.error.size(), charts.size());
  for (std::size_t i = 0; i < charts.size(); ++i) {
    EXPECT_TRUE(r.svg[i].empty());
    EXPECT_NE(r.error[i].find("/nonexistent/tools/charts/render.mjs is missing"), std::string::npos)
        << r.error[i];
  }
  // The specs are kept anyway, for anyone who wants to render them elsewhere.
  std::ifstream specs(dir / "specs.json");
  EXPECT_EQ(nlohmann::json::parse(specs)["charts"].size(), charts.size());
}

// The real renderer (tools/charts, installed by scripts/install-deps.sh).
std::filesystem::path ChartsTool() {
  return std::filesystem::path(FWBENCH_SOURCE_DIR) / "tools" / "charts";
}

TEST(ReportCharts, VegaRendersSvgAndABadSpecCostsOnlyItsOwnChart) {
  if (!std::filesystem::is_directory(ChartsTool() / "node_modules" / "vega-lite")) {
    GTEST_SKIP() << ChartsTool() << "/node_modules is missing: run scripts/install-deps.sh";
  }
  const auto dir = FreshDir("real");
  std::vector<ChartSpec> charts = BuildChartSpecs(RunResultsFromJson(testing::SampleResults()));
  charts.insert(charts.begin() + 1, ChartSpec{"broken", "broken", "", {{"mark", "nope"}}});
  const RenderedCharts r = RenderCharts(charts, dir, ChartsTool());
  EXPECT_TRUE(r.renderer.starts_with("Vega 6.")) << r.renderer;
  for (std::size_t i = 0; i < charts.size(); ++i) {
    if (charts[i].id == "broken") {
      EXPECT_TRUE(r.svg[i].empty());
      EXPECT_TRUE(r.error[i].starts_with("Vega-Lite: ")) << r.error[i];
      continue;
    }
    EXPECT_TRUE(r.error[i].empty()) << charts[i].id << ": " << r.error[i];
    EXPECT_TRUE(r.svg[i].starts_with("<svg")) << charts[i].id;
    EXPECT_TRUE(std::filesystem::exists(dir / (charts[i].id + ".svg")));
  }
  // The throughput chart draws one bar per configuration and prints each CI.
  const std::string& svg = r.svg[0];
  EXPECT_NE(svg.find("50 [30–70]"), std::string::npos);
}

TEST(ReportCharts, ANodeThatCannotStartIsNamed) {
  if (!std::filesystem::is_directory(ChartsTool() / "node_modules" / "vega-lite")) {
    GTEST_SKIP() << ChartsTool() << "/node_modules is missing: run scripts/install-deps.sh";
  }
  setenv("FWBENCH_NODE", "/nonexistent/node", 1);
  const RenderedCharts r =
      RenderCharts(BuildChartSpecs(RunResultsFromJson(testing::SampleResults())),
                   FreshDir("nonode"), ChartsTool());
  unsetenv("FWBENCH_NODE");
  ASSERT_FALSE(r.error.empty());
  EXPECT_NE(r.error[0].find("could not start Node.js"), std::string::npos) << r.error[0];
}

}  // namespace
}  // namespace fwbench::report
