#pragma once
// What LibTorch itself reports about its build and runtime, recorded next to the environment
// fingerprint (core/env_fingerprint.h). The header stays free of torch includes so the CLI and
// the reports can use it without paying for <torch/torch.h>.
#include <nlohmann/json.hpp>

namespace fwbench {

// LibTorch's version, build options (CUDA, cuDNN, oneDNN, MKL, OpenMP), its thread pools and
// the BLAS that actually serves its matmuls (shape in docs/environment.md). Runs one 64x64
// matmul first, because a BLAS can be loaded lazily and only then shows up in /proc/self/maps;
// the matmul uses constant inputs so the global RNG state is untouched. Call it after the
// benchmark's thread counts are set, since it reports the current ones. Never throws: a field
// that cannot be read is null.
nlohmann::json CollectLibtorchInfo();

// The machine's measured fp32 matmul peak with LibTorch on `threads` threads: square matmuls of
// `size` (1024 by default, and 2048 when that is faster), best rate over a few timed rounds
// (≥ 0.2 s each). The denominator of model FLOPs utilisation (MFU). Returns {"flops_per_s",
// "threads", "size", "dtype": "fp32", "seconds"}.
nlohmann::json MeasureMatmulPeak(int threads);

}  // namespace fwbench
