#include "report/table.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

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

std::string FormatTable(const nlohmann::json& results) {
  std::string out = fmt::format("run {}  (threads {}, {})\n\n", results.value("run_id", "?"),
                                FormatThreadCounts(results),
                                results["env"].contains("cpu") && results["env"]["cpu"].is_object()
                                    ? results["env"]["cpu"].value("model", "unknown CPU")
                                    : std::string("unknown CPU"));
  std::vector<Row> train = {{"training", "ok/n", "TTFB s [95% CI]", "steps/s [95% CI]", "samples/s",
                             "warm-up steps", "warm-up cost s", "loss first→last", "peak RSS MiB",
                             "CPU s", "parity"}};
  std::vector<Row> infer = {{"inference", "ok/n", "TTFB s [95% CI]", "p50 ms [95% CI]", "p90 ms",
                             "p99 ms", "samples/s [95% CI]", "warm-up steps", "peak RSS MiB",
                             "parity"}};
  for (const nlohmann::json& c : results["configurations"]) {
    const nlohmann::json& m = c["metrics"];
    const std::string okn = FormatTrialCount(c);
    if (c["task"] == "train") {
      const std::string loss =
          m.contains("loss_first")
              ? fmt::format("{}→{}", FormatNumber(m["loss_first"]["median"].get<double>()),
                            FormatNumber(m["loss_last"]["median"].get<double>()))
              : "-";
      train.push_back({c["config"].get<std::string>(), okn, FormatWithCi(m, "ttfb_s"),
                       FormatWithCi(m, "steps_per_s"), FormatMedian(m, "samples_per_s"),
                       FormatMedian(m, "warmup_steps"), FormatMedian(m, "warmup_cost_s"), loss,
                       FormatMedian(m, "peak_rss_mb"), FormatMedian(m, "cpu_s"), FormatParity(c)});
    } else {
      infer.push_back({c["config"].get<std::string>(), okn, FormatWithCi(m, "ttfb_s"),
                       FormatWithCi(m, "latency_p50_ms"), FormatMedian(m, "latency_p90_ms"),
                       FormatMedian(m, "latency_p99_ms"), FormatWithCi(m, "samples_per_s"),
                       FormatMedian(m, "warmup_steps"), FormatMedian(m, "peak_rss_mb"),
                       FormatParity(c)});
    }
  }
  if (train.size() > 1) out += Render(train) + "\n";
  if (infer.size() > 1) out += Render(infer) + "\n";
  if (const auto tokens = TokenRows(results); tokens.size() > 1) out += Render(tokens) + "\n";

  std::vector<Row> compile = {{"compiled vs eager", "speed-up [95% CI]", "compile s",
                               "extra warm-up s", "break-even steps", "verdict"}};
  for (const nlohmann::json& c : results["configurations"]) {
    if (!c.contains("compile")) continue;
    const nlohmann::json& g = c["compile"];
    if (g.contains("unavailable")) {
      compile.push_back(
          {c["config"].get<std::string>(), "-", "-", "-", "-", CompileVerdictText(g)});
      continue;
    }
    compile.push_back({c["config"].get<std::string>(), FormatSpeedup(g),
                       FormatNumber(g["compile_s"].get<double>()),
                       FormatNumber(g["extra_warmup_s"].get<double>()), FormatBreakEven(g),
                       CompileVerdictText(g)});
  }
  if (compile.size() > 1) out += Render(compile) + "\n";

  // Time to first batch, phase by phase.
  const std::vector<std::string> names = PhaseNames(results);
  Row header = {"TTFB phases (median s)"};
  header.insert(header.end(), names.begin(), names.end());
  std::vector<Row> phases = {header};
  for (const nlohmann::json& c : results["configurations"]) {
    const nlohmann::json& m = c["metrics"];
    if (!m.contains("ttfb_s")) continue;
    Row r = {c["config"].get<std::string>()};
    for (const std::string& p : names) r.push_back(FormatMedian(m, "phase." + p + "_s"));
    phases.push_back(std::move(r));
  }
  if (phases.size() > 1) out += Render(phases) + "\n";

  for (const auto& [reference, configs] : EnvelopeGroups(results)) {
    out += fmt::format("training parity against {}: {}\n", reference,
                       FormatEnvelope((*configs.front())["parity"]["envelope"]));
    for (const nlohmann::json* c : configs) {
      const nlohmann::json& l = (*c)["parity"].value("losses", nlohmann::json::object());
      std::string where;
      if (l.contains("first_bad_step")) {
        where = fmt::format("left the envelope at step {}", l["first_bad_step"].get<int>());
      } else if (l.contains("worst_band_fraction") && l["worst_band_fraction"].is_number()) {
        where = fmt::format("at most {:.2g} of the band (step {})",
                            l["worst_band_fraction"].get<double>(), l.value("worst_step", 0));
      }
      out += fmt::format("  {}: {}{}\n", (*c)["config"].get<std::string>(), FormatParity(*c),
                         where.empty() ? "" : ", " + where);
    }
    out += "\n";
  }

  if (results.contains("pick") && !results["pick"].empty()) {
    out += fmt::format(
        "verdicts (parity-checked configurations only; a win needs a 95% CI above "
        "1 and at least {:.0f}%)\n",
        100.0 * results.value("verdict_threshold", 0.05));
    for (const auto& line : results["pick"]) out += "  " + line.get<std::string>() + "\n";
    out += "\n";
  }

  std::vector<std::string> failed;
  for (const nlohmann::json& t : results["trials"]) {
    if (t["status"] != "ok") {
      failed.push_back(fmt::format("  {}: {} (stderr: {})", t["trial"].get<std::string>(),
                                   t["reason"].get<std::string>(), t.value("stderr", "")));
    }
  }
  if (!failed.empty()) {
    out += fmt::format("failed trials ({}):\n", failed.size());
    for (const std::string& f : failed) out += f + "\n";
    out += "\n";
  }
  for (const nlohmann::json& w : results["warnings"])
    out += fmt::format("warning: {}\n", w.get<std::string>());
  if (results.contains("notes")) {
    for (const nlohmann::json& n : results["notes"])
      out += fmt::format("note: {}\n", n.get<std::string>());
  }
  return out;
}

}  // namespace fwbench
