#include "report/result_cells.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace fwbench {

std::string FormatNumber(double v) {
  const double a = std::abs(v);
  if (a >= 1000 || (v == std::floor(v) && a < 1e6)) return fmt::format("{:.0f}", v);
  if (a >= 100) return fmt::format("{:.1f}", v);
  if (a >= 10) return fmt::format("{:.2f}", v);
  return fmt::format("{:.3g}", v);
}

std::string FormatWithCi(const nlohmann::json& metrics, const std::string& key) {
  if (!metrics.contains(key)) return "-";
  const nlohmann::json& m = metrics[key];
  return fmt::format("{} [{}–{}]", FormatNumber(m["median"].get<double>()),
                     FormatNumber(m["ci95_lo"].get<double>()),
                     FormatNumber(m["ci95_hi"].get<double>()));
}

std::string FormatMedian(const nlohmann::json& metrics, const std::string& key) {
  if (!metrics.contains(key)) return "-";
  return FormatNumber(metrics[key]["median"].get<double>());
}

std::string FormatParity(const nlohmann::json& config) {
  if (!config.contains("parity")) return "-";
  const nlohmann::json& p = config["parity"];
  std::string status = p.value("status", "unchecked");
  if (status != "fail") return status;
  const nlohmann::json& d =
      p.contains("logits") ? p["logits"] : p.value("losses", nlohmann::json());
  if (d.is_object() && d.contains("max_abs") && d["max_abs"].is_number()) {
    return fmt::format("FAIL (max |Δ| {})", FormatNumber(d["max_abs"].get<double>()));
  }
  return "FAIL";
}

std::string FormatEnvelope(const nlohmann::json& envelope) {
  if (!envelope.is_object() || !envelope.contains("allowed") || envelope["allowed"].empty()) {
    return "";
  }
  const nlohmann::json& allowed = envelope["allowed"];
  const std::size_t n = allowed.size();
  const auto at = [&](std::size_t i) {
    return allowed[i].is_number() ? FormatNumber(allowed[i].get<double>()) : std::string("-");
  };
  const nlohmann::json& saturated = envelope.value("saturated_from", nlohmann::json());
  const std::size_t informative = saturated.is_number() ? saturated.get<std::size_t>() : n;
  std::string steps = informative == 0   ? "none"
                      : informative == 1 ? "step 0"
                                         : fmt::format("steps 0–{}", informative - 1);
  if (informative < n)
    steps += fmt::format(" (from step {} rounding moves the loss by more than {:g}%)", informative,
                         100 * envelope.value("saturation", 0.0));
  return fmt::format(
      "{} rounding probes, margin {:g}; allowed |Δ| {} at step 0 … {} at step {}; "
      "informative {}",
      envelope.value("probes", 0), envelope.value("margin", 0.0), at(0), at(n - 1), n - 1, steps);
}

std::vector<std::pair<std::string, std::vector<const nlohmann::json*>>> EnvelopeGroups(
    const nlohmann::json& results) {
  std::vector<std::pair<std::string, std::vector<const nlohmann::json*>>> groups;
  for (const nlohmann::json& c : results["configurations"]) {
    if (!c.contains("parity")) continue;
    const nlohmann::json& p = c["parity"];
    if (FormatEnvelope(p.value("envelope", nlohmann::json())).empty()) continue;
    const std::string ref = p.value("reference", "");
    auto it =
        std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == ref; });
    if (it == groups.end()) it = groups.insert(groups.end(), {ref, {}});
    it->second.push_back(&c);
  }
  return groups;
}

std::string FormatSpeedup(const nlohmann::json& compile) {
  if (!compile.contains("speedup")) return "-";
  const nlohmann::json& sp = compile["speedup"];
  return fmt::format("{}× [{}–{}]", FormatNumber(sp["median"].get<double>()),
                     FormatNumber(sp["ci95_lo"].get<double>()),
                     FormatNumber(sp["ci95_hi"].get<double>()));
}

std::string FormatBreakEven(const nlohmann::json& compile) {
  if (!compile.contains("break_even_steps")) return "-";
  const auto steps = [](const nlohmann::json& b) {
    return b.is_number() ? FormatNumber(std::ceil(b.get<double>())) : std::string("never");
  };
  std::string out = steps(compile["break_even_steps"]);
  if (compile.contains("break_even_ci95") && compile["break_even_ci95"].is_object()) {
    const nlohmann::json& ci = compile["break_even_ci95"];
    out += fmt::format(" [{}–{}]", steps(ci.value("lo", nlohmann::json("never"))),
                       steps(ci.value("hi", nlohmann::json("never"))));
  }
  return out;
}

std::string CompileVerdictText(const nlohmann::json& compile) {
  if (compile.contains("unavailable")) return compile["unavailable"].get<std::string>();
  if (!compile.value("ranked", true)) {
    return "not ranked: parity " + compile.value("parity", std::string("fail"));
  }
  if (!compile.value("significant", false)) return "no significant difference";
  return compile["speedup"]["median"].get<double>() > 1 ? "compiled faster" : "compiled slower";
}

std::vector<std::string> PhaseNames(const nlohmann::json& results) {
  std::vector<std::string> names = {"exec",         "import", "init",    "build",
                                    "load_weights", "data",   "compile", "first_step"};
  const std::size_t conventional = names.size();
  const nlohmann::json& configs = results["configurations"];
  for (const nlohmann::json& c : configs) {
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
  // A conventional phase no configuration has (e.g. import for C++-only runs) is left out.
  std::erase_if(names, [&](const std::string& n) {
    return std::none_of(configs.begin(), configs.end(), [&](const nlohmann::json& c) {
      return c["metrics"].contains("phase." + n + "_s");
    });
  });
  return names;
}

std::string FormatTrialCount(const nlohmann::json& config) {
  const int ok = config.value("trials_ok", 0);
  return fmt::format("{}/{}", ok, ok + config.value("trials_failed", 0));
}

std::string FormatThreadCounts(const nlohmann::json& results) {
  std::set<int> counts;
  for (const auto& c : results.value("configurations", nlohmann::json::array())) {
    if (c.contains("threads") && c["threads"].is_number_integer() && c["threads"].get<int>() > 0) {
      counts.insert(c["threads"].get<int>());
    }
  }
  if (counts.empty()) {
    const nlohmann::json inputs = results.value("inputs", nlohmann::json::object());
    if (inputs.contains("threads") && inputs["threads"].is_number_integer() &&
        inputs["threads"].get<int>() > 0) {
      counts.insert(inputs["threads"].get<int>());
    }
  }
  return counts.empty() ? "?" : fmt::format("{}", fmt::join(counts, ", "));
}

std::string FormatPercentWithCi(const nlohmann::json& metrics, const std::string& key) {
  if (!metrics.contains(key)) return "-";
  const nlohmann::json& m = metrics[key];
  return fmt::format("{}% [{}–{}]", FormatNumber(100.0 * m.value("median", 0.0)),
                     FormatNumber(100.0 * m.value("ci95_lo", 0.0)),
                     FormatNumber(100.0 * m.value("ci95_hi", 0.0)));
}

std::vector<std::vector<std::string>> TokenRows(const nlohmann::json& results) {
  std::vector<std::vector<std::string>> rows = {{"tokens", "tokens/s [95% CI]", "MFU [95% CI]",
                                                 "time to first token ms", "prefill tokens/s",
                                                 "decode tokens/s [95% CI]", "decode MFU"}};
  for (const nlohmann::json& c : results["configurations"]) {
    const nlohmann::json& m = c["metrics"];
    if (!m.contains("tokens_per_s")) continue;
    rows.push_back({c.value("config", ""), FormatWithCi(m, "tokens_per_s"),
                    FormatPercentWithCi(m, "mfu"), FormatWithCi(m, "ttft_ms"),
                    FormatWithCi(m, "prefill_tokens_per_s"), FormatWithCi(m, "decode_tokens_per_s"),
                    FormatPercentWithCi(m, "decode_mfu")});
  }
  return rows;
}

}  // namespace fwbench
