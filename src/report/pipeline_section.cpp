#include "report/pipeline_section.h"

#include <fmt/format.h>

#include <set>

#include "report/result_cells.h"

namespace fwbench::report {
namespace {

std::string CheckText(const PipelineFacts& p) {
  if (p.check == "match") return "match";
  if (p.check == "differs") return "DIFFERS: " + p.check_detail;
  return "unchecked" + (p.check_detail.empty() ? "" : ": " + p.check_detail);
}

// The median share of the steps the consumer waited for its batch: about 100% for the pipeline
// alone (it does nothing else), how far the training step was starved otherwise.
std::string InputWait(const ConfigurationResult& c) {
  const MetricSummary* m = c.Metric("input_wait_share");
  if (m == nullptr) return "-";
  return fmt::format("{:.1f}%", 100.0 * m->estimate.value);
}

}  // namespace

std::vector<std::vector<std::string>> PipelineRows(const RunResults& results) {
  std::vector<std::vector<std::string>> rows = {
      {"input pipeline", "loader", "workers", "consumer", "samples/s [95% CI]", "input wait",
       "TTFB s", "CPU s / 1k samples", "memory MiB", "batches vs reference"}};
  for (const ConfigurationResult& c : results.pipelines) {
    if (!c.pipeline) continue;
    const PipelineFacts& p = *c.pipeline;
    rows.push_back({c.id(), p.loader + (p.cache ? " + cache" : ""), std::to_string(p.workers),
                    p.model_step == "train" ? "training step" : "none (pipeline alone)",
                    FormatWithCi(c, "samples_per_s"), InputWait(c), FormatMedian(c, "ttfb_s"),
                    FormatMedian(c, "cpu_s_per_1k_samples"), FormatMedian(c, "peak_rss_mb"),
                    CheckText(p)});
  }
  return rows;
}

std::vector<std::string> PipelineSettingsLines(const RunResults& results) {
  std::vector<std::string> lines;
  std::set<std::string> seen;
  for (const ConfigurationResult& c : results.pipelines) {
    if (!c.pipeline || c.pipeline->settings.empty()) continue;
    const PipelineFacts& p = *c.pipeline;
    const std::string key = fmt::format("{}/{}", p.loader, p.workers);
    if (!seen.insert(key).second) continue;
    std::string line = fmt::format("{} with {} worker{}: {}", p.loader, p.workers,
                                   p.workers == 1 ? "" : "s", p.settings.dump());
    if (!p.recommended.empty() && !seen.contains(p.loader)) {
      line += fmt::format(" (its docs recommend: {})", p.recommended);
      seen.insert(p.loader);
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

Section PipelineSection(const RunResults& results) {
  Section s{"Input pipelines", "pipelines", {}};
  s.blocks.push_back(Paragraph{
      "Each framework's own input pipeline reads the same training images, crops (padding 4), "
      "flips and normalises them with the same seeded schedule, batches them and hands each "
      "batch to a no-op (the pipeline alone) or to the training step. samples/s is what the "
      "consumer received (arrival to arrival); input wait is the share of that time the "
      "consumer spent waiting for its batch (with training: how far the pipeline starved the "
      "model); time to first batch runs from the process's start; CPU seconds count every "
      "thread and worker process from the loader's start to its shutdown; memory is the "
      "process's own peak RSS or, when larger, the proportional set size of the process and its "
      "loader processes at the end of the steps. Each pipeline's first batches are compared bit "
      "for bit with "
      "fwbench's reference batches of the same seed (docs/data-pipelines.md)."});
  auto rows = PipelineRows(results);
  std::vector<std::string> header = std::move(rows.front());
  header.front() = "configuration";
  rows.erase(rows.begin());
  s.blocks.push_back(Table{"Input pipelines", std::move(header), std::move(rows), "pipelines"});
  if (auto lines = PipelineSettingsLines(results); !lines.empty()) {
    s.blocks.push_back(Paragraph{"Loader settings as the trials set them:"});
    s.blocks.push_back(List{std::move(lines)});
  }
  return s;
}

}  // namespace fwbench::report
