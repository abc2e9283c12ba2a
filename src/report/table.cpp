#include "report/table.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace fwbench {

namespace {

using Row = std::vector<std::string>;

std::string Num(double v) {
  const double a = std::abs(v);
  if (a >= 1000 || (v == std::floor(v) && a < 1e6)) return fmt::format("{:.0f}", v);
  if (a >= 100) return fmt::format("{:.1f}", v);
  if (a >= 10) return fmt::format("{:.2f}", v);
  return fmt::format("{:.3g}", v);
}

// "12.3 [11.9–12.8]" or "-" when the metric is absent.
std::string WithCi(const nlohmann::json& metrics, const char* key) {
  if (!metrics.contains(key)) return "-";
  const nlohmann::json& m = metrics[key];
  return fmt::format("{} [{}–{}]", Num(m["median"].get<double>()), Num(m["ci95_lo"].get<double>()),
                     Num(m["ci95_hi"].get<double>()));
}

std::string Plain(const nlohmann::json& metrics, const char* key) {
  if (!metrics.contains(key)) return "-";
  return Num(metrics[key]["median"].get<double>());
}

// "pass", "reference", "FAIL (max |Δ| 0.31)", "unchecked".
std::string Parity(const nlohmann::json& config) {
  if (!config.contains("parity")) return "-";
  const nlohmann::json& p = config["parity"];
  const std::string status = p.value("status", "unchecked");
  if (status != "fail") return status;
  const nlohmann::json& d =
      p.contains("logits") ? p["logits"] : p.value("losses", nlohmann::json());
  if (d.is_object() && d.contains("max_abs") && d["max_abs"].is_number()) {
    return fmt::format("FAIL (max |Δ| {})", Num(d["max_abs"].get<double>()));
  }
  return "FAIL";
}

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
                                results["inputs"].value("threads", 0),
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
    const std::string okn = fmt::format("{}/{}", c["trials_ok"].get<int>(),
                                        c["trials_ok"].get<int>() + c["trials_failed"].get<int>());
    if (c["task"] == "train") {
      const std::string loss =
          m.contains("loss_first")
              ? fmt::format("{}→{}", Num(m["loss_first"]["median"].get<double>()),
                            Num(m["loss_last"]["median"].get<double>()))
              : "-";
      train.push_back({c["config"].get<std::string>(), okn, WithCi(m, "ttfb_s"),
                       WithCi(m, "steps_per_s"), Plain(m, "samples_per_s"),
                       Plain(m, "warmup_steps"), Plain(m, "warmup_cost_s"), loss,
                       Plain(m, "peak_rss_mb"), Plain(m, "cpu_s"), Parity(c)});
    } else {
      infer.push_back({c["config"].get<std::string>(), okn, WithCi(m, "ttfb_s"),
                       WithCi(m, "latency_p50_ms"), Plain(m, "latency_p90_ms"),
                       Plain(m, "latency_p99_ms"), WithCi(m, "samples_per_s"),
                       Plain(m, "warmup_steps"), Plain(m, "peak_rss_mb"), Parity(c)});
    }
  }
  if (train.size() > 1) out += Render(train) + "\n";
  if (infer.size() > 1) out += Render(infer) + "\n";

  std::vector<Row> compile = {{"compiled vs eager", "speed-up [95% CI]", "compile s",
                               "extra warm-up s", "break-even steps", "verdict"}};
  for (const nlohmann::json& c : results["configurations"]) {
    if (!c.contains("compile")) continue;
    const nlohmann::json& g = c["compile"];
    if (g.contains("unavailable")) {
      compile.push_back({c["config"].get<std::string>(), "-", "-", "-", "-",
                         g["unavailable"].get<std::string>()});
      continue;
    }
    const nlohmann::json& sp = g["speedup"];
    const std::string break_even = g["break_even_steps"].is_number()
                                       ? Num(std::ceil(g["break_even_steps"].get<double>()))
                                       : "never";
    std::string verdict;
    if (!g.value("ranked", true)) {
      verdict = "not ranked: parity fail";
    } else if (!g["significant"].get<bool>()) {
      verdict = "no significant difference";
    } else {
      verdict = sp["median"].get<double>() > 1 ? "compiled faster" : "compiled slower";
    }
    compile.push_back(
        {c["config"].get<std::string>(),
         fmt::format("{}× [{}–{}]", Num(sp["median"].get<double>()),
                     Num(sp["ci95_lo"].get<double>()), Num(sp["ci95_hi"].get<double>())),
         Num(g["compile_s"].get<double>()), Num(g["extra_warmup_s"].get<double>()), break_even,
         verdict});
  }
  if (compile.size() > 1) out += Render(compile) + "\n";

  // Time to first batch, phase by phase: the conventional phases in order, then any other
  // phase a worker reported, then the unaccounted rest.
  std::vector<std::string> names = {"exec",         "import", "init",    "build",
                                    "load_weights", "data",   "compile", "first_step"};
  const std::size_t conventional = names.size();
  for (const nlohmann::json& c : results["configurations"]) {
    for (const auto& [key, unused] : c["metrics"].items()) {
      if (!key.starts_with("phase.") || !key.ends_with("_s")) continue;
      const std::string name = key.substr(6, key.size() - 8);
      if (name != "other" && std::find(names.begin(), names.end(), name) == names.end()) {
        names.push_back(name);
      }
    }
  }
  std::sort(names.begin() + static_cast<std::ptrdiff_t>(conventional), names.end());
  names.push_back("other");
  // A conventional column no configuration has (e.g. import for C++-only runs) is left out.
  std::erase_if(names, [&](const std::string& n) {
    return std::none_of(
        results["configurations"].begin(), results["configurations"].end(),
        [&](const nlohmann::json& c) { return c["metrics"].contains("phase." + n + "_s"); });
  });
  Row header = {"TTFB phases (median s)"};
  header.insert(header.end(), names.begin(), names.end());
  std::vector<Row> phases = {header};
  for (const nlohmann::json& c : results["configurations"]) {
    const nlohmann::json& m = c["metrics"];
    if (!m.contains("ttfb_s")) continue;
    Row r = {c["config"].get<std::string>()};
    for (const std::string& p : names) r.push_back(Plain(m, ("phase." + p + "_s").c_str()));
    phases.push_back(std::move(r));
  }
  if (phases.size() > 1) out += Render(phases) + "\n";

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
  return out;
}

}  // namespace fwbench
