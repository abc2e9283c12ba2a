#include "report/report_writer.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "report/report_charts.h"
#include "report/report_content.h"
#include "report/report_document.h"

namespace fwbench::report {

namespace {

std::string ReadIfPresent(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  if (in) s << in.rdbuf();
  return s.str();
}

}  // namespace

ReportFiles WriteReport(const std::filesystem::path& run_dir, const RunResults& results,
                        const std::filesystem::path& charts_tool) {
  const std::vector<ChartSpec> specs = BuildChartSpecs(results);
  const RenderedCharts rendered = RenderCharts(specs, run_dir / "charts", charts_tool);
  ReportFiles files;
  std::vector<Chart> charts;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    charts.push_back(
        Chart{specs[i].id, specs[i].title, rendered.svg[i], rendered.error[i], specs[i].note});
    if (rendered.svg[i].empty()) {
      files.chart_errors.emplace_back(specs[i].id, rendered.error[i]);
    } else {
      ++files.charts;
    }
  }
  const Document doc =
      BuildReportDocument(results, charts, ReadIfPresent(run_dir / "plan.toml"), rendered.renderer);
  files.markdown = run_dir / "report.md";
  files.html = run_dir / "report.html";
  WriteFileAtomically(files.markdown, RenderMarkdown(doc));
  WriteFileAtomically(files.html, RenderHtml(doc));
  return files;
}

}  // namespace fwbench::report
