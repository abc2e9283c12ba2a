#include "backends/trial/trial_common.h"

#include <ATen/autocast_mode.h>
#include <sys/resource.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <fmt/format.h>
#include <torch/version.h>

// LibTorch 2.4 replaced the per-device autocast setters with ones that take the device type and
// deprecated the old ones; Debian's 1.13 has only the old ones.
#define FWBENCH_AUTOCAST_BY_DEVICE \
  (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4))

#include "backends/trial/libtorch_threads.h"
#include "backends/trial/libtorch_trial.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/proc_stat.h"
#include "data/safetensors.h"

namespace fwbench {

void WriteLibtorchHello(protocol::EventWriter& events, const TrialSpec& spec,
                        std::int64_t t_main_ns, nlohmann::json extra, double perturb_weights,
                        int loader_workers) {
  protocol::Hello hello;
  hello.t_main_ns = t_main_ns;
  hello.framework = "libtorch";
  hello.framework_version = LibtorchVersion();
  hello.backend = spec.backend;
  hello.mode = spec.mode;
  hello.device = spec.device;
  hello.threads = spec.threads;
  const std::int64_t t0 = MonotonicNs();
  hello.thread_pools = ConfigureLibtorchThreads(spec.threads);
  if (loader_workers > 0) {
    // Threads fwbench starts itself: what is set is what runs.
    hello.thread_pools.push_back({.name = "fwbench loader threads",
                                  .role = "loader",
                                  .set = loader_workers,
                                  .read = loader_workers});
  }
  const std::int64_t t1 = MonotonicNs();
  hello.extra = std::move(extra);
  if (perturb_weights != 0.0) hello.extra["perturb_weights"] = perturb_weights;
  events.WriteHello(hello);
  events.WritePhase("threads", t0, t1);
}

torch::Device ResolveDevice(const std::string& device) {
  if (device == "cpu") return torch::kCPU;
  if (device == "cuda") {
    if (!torch::cuda::is_available()) {
      throw UsageError(
          "device 'cuda' requested, but this LibTorch has no usable CUDA device (Debian's "
          "libtorch is CPU-only): use --device cpu, or build fwbench against a CUDA LibTorch "
          "with -DTorch_DIR=... (see README)");
    }
    // fp32 means fp32: cuDNN convolutions default to TF32 (~1e-3 relative error), which failed
    // the parity gate on an H200 (docs/gpu.md). bf16 runs go through autocast, unaffected.
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
    return torch::kCUDA;
  }
  throw UsageError(fmt::format("device '{}' is unknown (expected cpu or cuda)", device));
}

torch::Device InitPhase(protocol::EventWriter& events, const TrialSpec& spec) {
  return TimedPhase(events, "init", [&] {
    torch::set_num_threads(spec.threads);
    torch::manual_seed(spec.seed);
    return ResolveDevice(spec.device);
  });
}

void Synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

std::int64_t PeakRssBytes() {
  // VmHWM counts this program's memory only; ru_maxrss starts at what fwbench held when it
  // exec'd this trial (docs/protocol.md, section 4). ru_maxrss only where /proc is missing.
  if (const auto hwm = ProcStatusBytes("self", "VmHWM")) return *hwm;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;
}

bool BudgetLeft(const TrialBudget& budget, std::int64_t steps, double elapsed_s) {
  if (budget.max_steps > 0 && steps >= budget.max_steps) return false;
  if (elapsed_s >= budget.max_seconds) return false;
  return steps < budget.min_steps || elapsed_s < budget.min_seconds;
}

void WriteParityOutput(const torch::Tensor& inputs, const torch::Tensor& logits,
                       const std::filesystem::path& path) {
  // Both as fp32 contiguous: the parity gate compares values, not layouts or precisions. The
  // inputs let it tell "same model, different data" from "same data, different model".
  const torch::Tensor x = inputs.to(torch::kCPU, torch::kFloat32).contiguous();
  const torch::Tensor y = logits.to(torch::kCPU, torch::kFloat32).contiguous();
  const auto entry = [](const char* name, const torch::Tensor& t) {
    return safetensors::TensorToWrite{
        name, safetensors::DType::kF32,
        std::vector<std::int64_t>(t.sizes().begin(), t.sizes().end()),
        std::span<const std::byte>(reinterpret_cast<const std::byte*>(t.data_ptr<float>()),
                                   static_cast<std::size_t>(t.numel()) * sizeof(float))};
  };
  safetensors::Write(path, {entry("logits", y), entry("inputs", x)});
}

void PerturbWeights(torch::nn::Module& model, double scale) {
  torch::NoGradGuard no_grad;
  for (torch::Tensor& p : model.parameters()) {
    if (p.is_floating_point()) p.add_(torch::randn_like(p) * scale);
  }
}

AutocastScope::AutocastScope(bool enabled, const torch::Device& device)
    : enabled_(enabled), cuda_(device.is_cuda()) {
  if (!enabled_) return;
#if FWBENCH_AUTOCAST_BY_DEVICE
  const at::DeviceType type = cuda_ ? at::kCUDA : at::kCPU;
  at::autocast::set_autocast_dtype(type, torch::kBFloat16);
  at::autocast::set_autocast_enabled(type, true);
#else
  if (cuda_) {
    at::autocast::set_autocast_gpu_dtype(torch::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    at::autocast::set_autocast_cpu_dtype(torch::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
#endif
}

AutocastScope::~AutocastScope() {
  if (!enabled_) return;
#if FWBENCH_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(cuda_ ? at::kCUDA : at::kCPU, false);
#else
  if (cuda_) {
    at::autocast::set_enabled(false);
  } else {
    at::autocast::set_cpu_enabled(false);
  }
#endif
  // Casts of the weights are cached per region; the optimiser changes the weights next.
  at::autocast::clear_cache();
}

}  // namespace fwbench
