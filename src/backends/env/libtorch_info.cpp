#include "backends/env/libtorch_info.h"

#include <exception>
#include <functional>
#include <string>
#include <vector>

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "core/clock.h"
#include "core/env_fingerprint.h"

namespace fwbench {
namespace {

using nlohmann::json;

// One field's probe; an exception (e.g. from a CUDA query on a broken driver) nulls that field
// instead of losing the record.
json Guarded(const std::function<json()>& probe) {
  try {
    return probe();
  } catch (const std::exception&) {
    return nullptr;
  }
}

}  // namespace

nlohmann::json CollectLibtorchInfo() {
  json info = json::object();
  info["version"] = TORCH_VERSION;
  info["cuda_available"] = Guarded([] { return json(torch::cuda::is_available()); });
  info["cuda_device_count"] = Guarded([] { return json(torch::cuda::device_count()); });
  info["cudnn"] = Guarded([] { return json(torch::cuda::cudnn_is_available()); });
  info["mkldnn"] = Guarded([] { return json(at::hasMKLDNN()); });
  info["mkldnn_version"] = Guarded([] { return json(at::get_mkldnn_version()); });
  info["mkl"] = Guarded([] { return json(at::hasMKL()); });
  info["openmp"] = Guarded([] { return json(at::hasOpenMP()); });
  info["lapack"] = Guarded([] { return json(at::hasLAPACK()); });
  info["intra_op_threads"] = Guarded([] { return json(at::get_num_threads()); });
  info["inter_op_threads"] = Guarded([] { return json(at::get_num_interop_threads()); });
  info["parallel_info"] = Guarded([] { return json(at::get_parallel_info()); });
  info["config"] = Guarded([] { return json(at::show_config()); });

  // Make LibTorch call into its BLAS before looking at what is mapped. Constant inputs: randn
  // would advance the global generator and shift every later seeded trial.
  info["matmul_ok"] = Guarded([] {
    const torch::Tensor a = torch::ones({64, 64}, torch::kFloat32);
    const torch::Tensor c = torch::mm(a, a);
    return json(c[0][0].item<float>() == 64.0F);
  });
  info["blas"] = nullptr;
  info["blas_libraries"] = nullptr;
  info["sgemm_provider"] = nullptr;
  info["sgemm_provider_blas"] = nullptr;
  try {
    const std::vector<std::string> libs = LoadedSharedLibraries();
    // Official (pip/conda) LibTorch builds link MKL statically and call it, not the sgemm_ of
    // whatever BLAS another library mapped (OpenCV maps Debian's OpenBLAS beside the wheel's
    // LibTorch): there is no .so to see, but LibTorch knows.
    const std::string blas = at::hasMKL() ? "mkl" : DetectBlas(libs);
    info["blas"] = blas;
    info["blas_libraries"] = BlasLibraries(libs);
    // The library the dynamic linker binds sgemm_ to: decisive when several BLAS are mapped.
    const std::string provider = SymbolProvider("sgemm_");
    if (!provider.empty()) {
      info["sgemm_provider"] = provider;
      info["sgemm_provider_blas"] = DetectBlas({provider});
    }
  } catch (const std::exception&) {
    // Leave the BLAS fields null.
  }
  return info;
}

nlohmann::json MeasureMatmulPeak(int threads) {
  const int before = torch::get_num_threads();
  torch::set_num_threads(threads);
  const std::int64_t t_start = MonotonicNs();
  double best = 0.0;
  std::int64_t best_size = 0;
  for (const std::int64_t n : {std::int64_t{1024}, std::int64_t{2048}}) {
    // Constant inputs: the global RNG stays untouched.
    const torch::Tensor a = torch::full({n, n}, 0.5f);
    const torch::Tensor b = torch::full({n, n}, 0.25f);
    torch::Tensor c = torch::empty({n, n});
    torch::mm_out(c, a, b);  // warm-up: thread pool, BLAS dispatch
    for (int round = 0; round < 3; ++round) {
      int reps = 0;
      const std::int64_t t0 = MonotonicNs();
      std::int64_t t1 = t0;
      while (t1 - t0 < 200'000'000 || reps < 2) {
        torch::mm_out(c, a, b);
        ++reps;
        t1 = MonotonicNs();
      }
      const double rate =
          2.0 * static_cast<double>(n * n * n) * reps / (static_cast<double>(t1 - t0) * 1e-9);
      if (rate > best) {
        best = rate;
        best_size = n;
      }
    }
  }
  torch::set_num_threads(before);
  return {{"flops_per_s", best},
          {"threads", threads},
          {"size", best_size},
          {"dtype", "fp32"},
          {"seconds", static_cast<double>(MonotonicNs() - t_start) * 1e-9}};
}

}  // namespace fwbench
