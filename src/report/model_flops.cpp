#include "report/model_flops.h"

#include <fmt/format.h>

#include <string_view>
#include <tuple>

namespace fwbench {

std::map<int, MatmulPeak> BestMatmulPeaks(const nlohmann::json& env) {
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
  if (env.contains("matmul_peaks") && env["matmul_peaks"].is_array()) {
    for (const nlohmann::json& p : env["matmul_peaks"]) {
      const double f = p.is_object() ? p.value("flops_per_s", 0.0) : 0.0;
      if (!(f > 0.0)) continue;
      MatmulPeak& best = peaks[p.value("threads", 0)];
      if (f > best.flops_per_s) {
        best.flops_per_s = f;
        best.source = fmt::format("{}/{}: {}", p.value("backend", "?"), p.value("mode", "?"),
                                  p.value("library", "?"));
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
        p.source == "libtorch" ? "LibTorch's" : p.source);
    if (p.source != "libtorch" && p.libtorch_flops_per_s > 0.0) {
      note += fmt::format("; LibTorch's reached {:.1f}", p.libtorch_flops_per_s * 1e-9);
    }
    notes.push_back(std::move(note));
  }
  return notes;
}

}  // namespace fwbench
