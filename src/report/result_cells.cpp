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

namespace {

std::string WithCi(const MetricSummary* m, double scale, std::string_view suffix) {
  if (m == nullptr) return "-";
  return fmt::format("{}{} [{}–{}]", FormatNumber(scale * m->estimate.value), suffix,
                     FormatNumber(scale * m->estimate.ci_lo),
                     FormatNumber(scale * m->estimate.ci_hi));
}

}  // namespace

std::string FormatWithCi(const ConfigurationResult& config, std::string_view key) {
  return WithCi(config.Metric(key), 1.0, "");
}

std::string FormatMedian(const ConfigurationResult& config, std::string_view key) {
  const MetricSummary* m = config.Metric(key);
  return m == nullptr ? "-" : FormatNumber(m->estimate.value);
}

std::string FormatPercentWithCi(const ConfigurationResult& config, std::string_view key) {
  return WithCi(config.Metric(key), 100.0, "%");
}

std::string FormatParity(const ConfigurationResult& config) {
  if (!config.parity) return "-";
  const ParityResult& p = *config.parity;
  if (p.status != "fail") return p.status;
  const nlohmann::json& d = p.comparison;
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

std::vector<std::pair<std::string, std::vector<const ConfigurationResult*>>> EnvelopeGroups(
    const RunResults& results) {
  std::vector<std::pair<std::string, std::vector<const ConfigurationResult*>>> groups;
  for (const ConfigurationResult& c : results.configurations) {
    if (!c.parity || FormatEnvelope(c.parity->envelope).empty()) continue;
    const std::string& ref = c.parity->reference;
    auto it =
        std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == ref; });
    if (it == groups.end()) it = groups.insert(groups.end(), {ref, {}});
    it->second.push_back(&c);
  }
  return groups;
}

std::string FormatSpeedup(const CompileResult& compile) {
  if (!compile.gain) return "-";
  const stats::Estimate& sp = compile.gain->speedup;
  return fmt::format("{}× [{}–{}]", FormatNumber(sp.value), FormatNumber(sp.ci_lo),
                     FormatNumber(sp.ci_hi));
}

std::string FormatEstimate(const stats::Estimate& e) {
  return fmt::format("{} [{}–{}]", FormatNumber(e.value), FormatNumber(e.ci_lo),
                     FormatNumber(e.ci_hi));
}

std::vector<std::vector<std::string>> DdpScalingRows(const RunResults& results) {
  std::vector<std::vector<std::string>> rows = {
      {"data-parallel scaling", "processes", "hosts", "step ms (1 process)", "step ms",
       "efficiency [95% CI]", "speed-up [95% CI]", "parity"}};
  for (const ConfigurationResult& c : results.configurations) {
    if (c.ddp_scaling) {
      const DdpScaling& d = *c.ddp_scaling;
      rows.push_back({c.id(), std::to_string(d.processes), std::to_string(d.hosts),
                      FormatNumber(d.baseline_step_s * 1e3), FormatNumber(d.step_s * 1e3),
                      FormatEstimate(d.efficiency), FormatEstimate(d.speedup) + "×",
                      FormatParity(c)});
    } else if (!c.ddp_scaling_unavailable.empty()) {
      rows.push_back({c.id(), "-", "-", "-", "-", c.ddp_scaling_unavailable, "-", FormatParity(c)});
    }
  }
  return rows;
}

std::string FormatBreakEven(const CompileResult& compile) {
  if (!compile.gain) return "-";
  const CompileGain& g = *compile.gain;
  const auto steps = [](double b) {
    return std::isfinite(b) ? FormatNumber(std::ceil(b)) : std::string("never");
  };
  std::string out = steps(g.break_even_steps.value_or(INFINITY));
  if (!std::isnan(g.break_even_ci_lo) && !std::isnan(g.break_even_ci_hi)) {
    out += fmt::format(" [{}–{}]", steps(g.break_even_ci_lo), steps(g.break_even_ci_hi));
  }
  return out;
}

std::string CompileVerdictText(const CompileResult& compile) {
  if (!compile.gain) return compile.unavailable;
  if (!compile.ranked) {
    return "not ranked: parity " + (compile.parity.empty() ? std::string("fail") : compile.parity);
  }
  if (!compile.gain->significant) return "no significant difference";
  return compile.gain->speedup.value > 1 ? "compiled faster" : "compiled slower";
}

std::vector<std::string> PhaseNames(const RunResults& results) {
  std::vector<std::string> names = {"exec",         "import", "init",    "build",
                                    "load_weights", "data",   "compile", "first_step"};
  const std::size_t conventional = names.size();
  const std::vector<ConfigurationResult>& configs = results.configurations;
  for (const ConfigurationResult& c : configs) {
    for (const auto& [key, unused] : c.summary.metrics) {
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
    return std::none_of(configs.begin(), configs.end(), [&](const ConfigurationResult& c) {
      return c.Metric("phase." + n + "_s") != nullptr;
    });
  });
  return names;
}

std::string FormatTrialCount(const ConfigurationResult& config) {
  const int ok = config.summary.trials_ok;
  return fmt::format("{}/{}", ok, ok + config.summary.trials_failed);
}

std::string FormatThreadCounts(const RunResults& results) {
  std::set<int> counts;
  for (const ConfigurationResult& c : results.configurations) {
    if (c.threads > 0) counts.insert(c.threads);
  }
  if (counts.empty() && results.inputs.threads > 0) counts.insert(results.inputs.threads);
  return counts.empty() ? "?" : fmt::format("{}", fmt::join(counts, ", "));
}

std::vector<std::vector<std::string>> TokenRows(const RunResults& results) {
  std::vector<std::vector<std::string>> rows = {{"tokens", "tokens/s [95% CI]", "MFU [95% CI]",
                                                 "time to first token ms", "prefill tokens/s",
                                                 "decode tokens/s [95% CI]", "decode MFU"}};
  for (const ConfigurationResult& c : results.configurations) {
    if (c.Metric("tokens_per_s") == nullptr) continue;
    rows.push_back({c.id(), FormatWithCi(c, "tokens_per_s"), FormatPercentWithCi(c, "mfu"),
                    FormatWithCi(c, "ttft_ms"), FormatWithCi(c, "prefill_tokens_per_s"),
                    FormatWithCi(c, "decode_tokens_per_s"), FormatPercentWithCi(c, "decode_mfu")});
  }
  return rows;
}

}  // namespace fwbench
