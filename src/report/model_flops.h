// Model FLOPs utilisation of token workloads, and its denominator: the best fp32 matmul peak
// measured in the run.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/run_results.h"
#include "analysis/trial_metrics.h"

namespace fwbench {

struct MatmulPeak {
  double flops_per_s = 0.0;
  std::string source;                 // whose GEMM reached it: "libtorch", or the configuration id
  double libtorch_flops_per_s = 0.0;  // LibTorch's own, from env.json, for the note
};

// Per thread count: the best of LibTorch's peak (env.json matmul_peak, measured by fwbench
// before the trials) and every ok trial's own framework peak (TrialMetrics), since a CPU's peak
// is at least what its fastest GEMM reached. `configurations` is manifest.json's.
std::map<int, MatmulPeak> BestMatmulPeaks(
    const nlohmann::json& env, const nlohmann::json& configurations,
    const std::map<std::string, std::vector<TrialMetrics>>& trials_by_config);

// Training "mfu", generation "prefill_mfu" and "decode_mfu": tokens/s × analytical FLOPs per
// token (manifest.json llm) ÷ the peak of the configuration's thread count. Nothing on a GPU
// run (no GPU peak is measured) or without a peak.
void AddModelFlopsUtilisation(ConfigurationResult& config, const nlohmann::json& manifest,
                              const std::map<int, MatmulPeak>& peaks);

// One note per thread count: which GEMM set the denominator, and LibTorch's beside it.
std::vector<std::string> MatmulPeakNotes(const std::map<int, MatmulPeak>& peaks);

}  // namespace fwbench
