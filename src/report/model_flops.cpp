#include "report/model_flops.h"

#include <fmt/format.h>

#include <string_view>
#include <tuple>

namespace fwbench {

std::map<int, MatmulPeak> BestMatmulPeaks(
    const nlohmann::json& env, const nlohmann::json& configurations,
    const std::map<std::string, std::vector<TrialMetrics>>& trials_by_config) {
  std::map<int, MatmulPeak> peaks;
  if (env.contains("matmul_peak") && env["matmul_peak"].is_object()) {
    for (const auto& [key, p] : env["matmul_peak"].items()) {
      const double f = p.is_object() ? p.value("flops_per_s", 0.0) : 0.0;
      if (!(f > 0.0)) continue;
      int threads = 0;
      try {
        threads = std::stoi(key);
      } catch (const std::exception&) {
        continue;  // not a thread count: written by something else
      }
      peaks[threads] = {f, "libtorch", f};
    }
  }
  for (const nlohmann::json& c : configurations) {
    const auto found = trials_by_config.find(c.value("id", ""));
    if (found == trials_by_config.end()) continue;
    const int threads = c.value("threads", 0);
    for (const TrialMetrics& t : found->second) {
      if (!t.ok || !(t.matmul_peak_flops_per_s > 0.0)) continue;
      MatmulPeak& p = peaks[threads];
      if (t.matmul_peak_flops_per_s > p.flops_per_s) {
        p.flops_per_s = t.matmul_peak_flops_per_s;
        p.source = t.config;
      }
    }
  }
  return peaks;
}

void AddModelFlopsUtilisation(ConfigurationResult& config, const nlohmann::json& manifest,
                              const std::map<int, MatmulPeak>& peaks) {
  if (!manifest.contains("llm")) return;
  // The measured peak is the CPU's: against it a GPU run read 179% to 739% (H200, 2026-11-26).
  // No GPU peak is measured yet, so a GPU run reports no MFU rather than a wrong one.
  if (manifest.contains("plan") && manifest["plan"].value("device", "cpu") != "cpu") return;
  const auto p = peaks.find(config.threads);
  if (p == peaks.end() || !(p->second.flops_per_s > 0.0)) return;
  const double peak = p->second.flops_per_s;
  std::map<std::string, MetricSummary>& metrics = config.summary.metrics;
  const nlohmann::json& llm = manifest["llm"];
  for (const auto& [rate, flops, name] :
       {std::tuple{"tokens_per_s", "train_flops_per_token", "mfu"},
        std::tuple{"prefill_tokens_per_s", "prefill_flops_per_token", "prefill_mfu"},
        std::tuple{"decode_tokens_per_s", "decode_flops_per_token", "decode_mfu"}}) {
    const auto m = metrics.find(rate);
    if (m == metrics.end() || !llm.contains(flops)) continue;
    if (std::string_view(name) == "mfu" && config.task() != "train") continue;
    const double f = llm[flops].get<double>() / peak;
    const stats::Estimate& e = m->second.estimate;
    metrics[name] = {{e.value * f, e.ci_lo * f, e.ci_hi * f, e.n, e.level},
                     m->second.cv,
                     "fraction of the best fp32 matmul peak measured in this run"};
  }
}

std::vector<std::string> MatmulPeakNotes(const std::map<int, MatmulPeak>& peaks) {
  std::vector<std::string> notes;
  for (const auto& [threads, p] : peaks) {
    if (!(p.flops_per_s > 0.0)) continue;
    std::string note = fmt::format(
        "MFU on {} thread{} divides by {:.1f} GFLOP/s, the best fp32 matmul peak measured in this "
        "run ({})",
        threads, threads == 1 ? "" : "s", p.flops_per_s * 1e-9,
        p.source == "libtorch" ? "LibTorch's" : fmt::format("the framework of {}", p.source));
    if (p.source != "libtorch" && p.libtorch_flops_per_s > 0.0) {
      note += fmt::format("; LibTorch's reached {:.1f}", p.libtorch_flops_per_s * 1e-9);
    }
    notes.push_back(std::move(note));
  }
  return notes;
}

}  // namespace fwbench
