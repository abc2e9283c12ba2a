// Model FLOPs utilisation of token workloads, and its denominator: the best fp32 matmul peak
// measured in the run.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/run_results.h"

namespace fwbench {

struct MatmulPeak {
  double flops_per_s = 0.0;
  std::string source;                 // whose GEMM reached it: "libtorch", or the configuration id
  double libtorch_flops_per_s = 0.0;  // LibTorch's own, from env.json, for the note
};

// Per thread count: the best of LibTorch's peak (env.json matmul_peak) and each Python worker's
// own framework's (env.json matmul_peaks, one entry per library), both measured by fwbench
// before the trials: a CPU's peak is at least what its fastest GEMM reached.
std::map<int, MatmulPeak> BestMatmulPeaks(const nlohmann::json& env);

// Training "mfu", generation "prefill_mfu" and "decode_mfu": tokens/s × analytical FLOPs per
// token (manifest.json llm) ÷ the peak of the configuration's thread count. Nothing on a GPU
// run (no GPU peak is measured) or without a peak.
void AddModelFlopsUtilisation(ConfigurationResult& config, const nlohmann::json& manifest,
                              const std::map<int, MatmulPeak>& peaks);

// One note per thread count: which GEMM set the denominator, and LibTorch's beside it.
std::vector<std::string> MatmulPeakNotes(const std::map<int, MatmulPeak>& peaks);

}  // namespace fwbench
