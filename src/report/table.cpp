#include "report/table.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/trial_spec.h"
#include "report/pipeline_section.h"
#include "report/result_cells.h"

namespace fwbench {

namespace {

using Row = std::vector<std::string>;

std::size_t DisplayWidth(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80 ? 1 : 0;  // count UTF-8 code points
  return n;
}

std::string Render(const std::vector<Row>& rows) {
  std::vector<std::size_t> widths;
  for (const Row& r : rows) {
    widths.resize(std::max(widths.size(), r.size()));
    for (std::size_t i = 0; i < r.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(r[i]));
  }
  std::string out;
  for (std::size_t ri = 0; ri < rows.size(); ++ri) {
    for (std::size_t i = 0; i < rows[ri].size(); ++i) {
      out += rows[ri][i];
      if (i + 1 < rows[ri].size())
        out += std::string(widths[i] - DisplayWidth(rows[ri][i]) + 2, ' ');
    }
    out += '\n';
    if (ri == 0) {
      std::size_t total = 0;
      for (std::size_t w : widths) total += w + 2;
      out += std::string(total - 2, '-') + '\n';
    }
  }
  return out;
}

}  // namespace

std::string FormatTable(const RunResults& results) {
  const nlohmann::json& env = results.env;
  const std::string cpu = env.contains("cpu") && env["cpu"].is_object()
                              ? env["cpu"].value("model", "unknown CPU")
                              : std::string("unknown CPU");
  std::string out =
      fmt::format("run {}  (threads {}, {})\n\n", results.run_id.empty() ? "?" : results.run_id,
                  FormatThreadCounts(results), cpu);
  std::vector<Row> train = {{"training", "ok/n", "TTFB s [95% CI]", "steps/s [95% CI]", "samples/s",
                             "warm-up steps", "warm-up cost s", "loss first→last", "peak RSS MiB",
                             "CPU s", "parity"}};
  std::vector<Row> infer = {{"inference", "ok/n", "TTFB s [95% CI]", "p50 ms [95% CI]", "p90 ms",
                             "p99 ms", "samples/s [95% CI]", "warm-up steps", "peak RSS MiB",
                             "parity"}};
  for (const ConfigurationResult& c : results.configurations) {
    const std::string okn = FormatTrialCount(c);
    if (IsTrainingTask(c.task())) {
      const MetricSummary* first = c.Metric("loss_first");
      const MetricSummary* last = c.Metric("loss_last");
      const std::string loss = first != nullptr && last != nullptr
                                   ? fmt::format("{}→{}", FormatNumber(first->estimate.value),
                                                 FormatNumber(last->estimate.value))
                                   : "-";
      train.push_back({c.id(), okn, FormatWithCi(c, "ttfb_s"), FormatWithCi(c, "steps_per_s"),
                       FormatMedian(c, "samples_per_s"), FormatMedian(c, "warmup_steps"),
                       FormatMedian(c, "warmup_cost_s"), loss, FormatMedian(c, "peak_rss_mb"),
                       FormatMedian(c, "cpu_s"), FormatParity(c)});
    } else {
      infer.push_back({c.id(), okn, FormatWithCi(c, "ttfb_s"), FormatWithCi(c, "latency_p50_ms"),
                       FormatMedian(c, "latency_p90_ms"), FormatMedian(c, "latency_p99_ms"),
                       FormatWithCi(c, "samples_per_s"), FormatMedian(c, "warmup_steps"),
                       FormatMedian(c, "peak_rss_mb"), FormatParity(c)});
    }
  }
  if (train.size() > 1) out += Render(train) + "\n";
  if (infer.size() > 1) out += Render(infer) + "\n";
  if (const auto tokens = TokenRows(results); tokens.size() > 1) out += Render(tokens) + "\n";

  std::vector<Row> compile = {{"compiled vs eager", "speed-up [95% CI]", "compile s",
                               "extra warm-up s", "break-even steps", "verdict"}};
  for (const ConfigurationResult& c : results.configurations) {
    if (!c.compile) continue;
    const CompileResult& g = *c.compile;
    if (!g.gain) {
      compile.push_back({c.id(), "-", "-", "-", "-", CompileVerdictText(g)});
      continue;
    }
    compile.push_back({c.id(), FormatSpeedup(g), FormatNumber(g.gain->compile_s),
                       FormatNumber(g.gain->extra_warmup_s), FormatBreakEven(g),
                       CompileVerdictText(g)});
  }
  if (compile.size() > 1) out += Render(compile) + "\n";
  if (const auto ddp = DdpScalingRows(results); ddp.size() > 1) out += Render(ddp) + "\n";
  if (const auto pipelines = report::PipelineRows(results); pipelines.size() > 1) {
    out += Render(pipelines) + "\n";
  }

  // Time to first batch, phase by phase.
  const std::vector<std::string> names = PhaseNames(results);
  Row header = {"TTFB phases (median s)"};
  header.insert(header.end(), names.begin(), names.end());
  std::vector<Row> phases = {header};
  for (const ConfigurationResult& c : results.configurations) {
    if (c.Metric("ttfb_s") == nullptr) continue;
    Row r = {c.id()};
    for (const std::string& p : names) r.push_back(FormatMedian(c, "phase." + p + "_s"));
    phases.push_back(std::move(r));
  }
  if (phases.size() > 1) out += Render(phases) + "\n";

  static const nlohmann::json kNoComparison = nlohmann::json::object();
  for (const auto& [reference, configs] : EnvelopeGroups(results)) {
    // Grouped only for their measured envelope, so every one of them has a gate decision.
    out += fmt::format("training parity against {}: {}\n", reference,
                       FormatEnvelope(configs.front()->parity->envelope));
    for (const ConfigurationResult* c : configs) {
      const nlohmann::json& l =
          c->parity && c->parity->compared == "losses" ? c->parity->comparison : kNoComparison;
      std::string where;
      if (l.contains("first_bad_step")) {
        where = fmt::format("left the envelope at step {}", l["first_bad_step"].get<int>());
      } else if (l.contains("worst_band_fraction") && l["worst_band_fraction"].is_number()) {
        where = fmt::format("at most {:.2g} of the band (step {})",
                            l["worst_band_fraction"].get<double>(), l.value("worst_step", 0));
      }
      out +=
          fmt::format("  {}: {}{}\n", c->id(), FormatParity(*c), where.empty() ? "" : ", " + where);
    }
    out += "\n";
  }

  if (!results.pick.empty()) {
    out += fmt::format(
        "verdicts (parity-checked configurations only; a win needs a 95% CI above "
        "1 and at least {:.0f}%)\n",
        100.0 * results.verdict_threshold);
    for (const std::string& line : results.pick) out += "  " + line + "\n";
    out += "\n";
  }

  std::vector<std::string> failed;
  for (const TrialResult& t : results.trials) {
    if (!t.metrics.ok) {
      failed.push_back(
          fmt::format("  {}: {} (stderr: {})", t.metrics.trial, t.metrics.reason, t.stderr_tail));
    }
  }
  if (!failed.empty()) {
    out += fmt::format("failed trials ({}):\n", failed.size());
    for (const std::string& f : failed) out += f + "\n";
    out += "\n";
  }
  for (const std::string& w : results.warnings) out += fmt::format("warning: {}\n", w);
  for (const std::string& n : results.notes) out += fmt::format("note: {}\n", n);
  return out;
}

}  // namespace fwbench
