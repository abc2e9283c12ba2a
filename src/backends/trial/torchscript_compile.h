#pragma once
// The compiled mode of the LibTorch backend: the same C++ module, traced into TorchScript from
// C++ (no Python, no second model definition), then optimised for its task.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <torch/csrc/jit/api/module.h>
#include <torch/nn/module.h>
#include <torch/types.h>

namespace fwbench {

// Thrown when a module's forward cannot be captured by tracing (data-dependent control flow,
// values read back to C++, a trace that does not reproduce the eager output). The trial reports
// it as an `unsupported` error; eager configurations are unaffected.
class TraceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TraceOptions {
  // A second input of the same shape: the traced graph must reproduce the eager output on it,
  // which catches control flow that depended on the example's values.
  torch::Tensor check_input;
  double check_atol = 1e-4;  // |traced - eager| allowed on check_input (fp32; bf16 needs more)
  double check_rtol = 1e-4;
};

// Traces `forward` (which must compute with `model`'s own parameters and buffers) on `example`
// and returns a TorchScript module whose attributes are the very same tensors as `model`'s, so
// an optimiser stepping `model`'s parameters trains the traced module too. The module's
// training flag follows `model->is_training()`. Buffers changed by the trace and the check (e.g.
// BatchNorm running statistics in training mode) are restored, so tracing leaves no trace in
// the model's state. Throws TraceError naming the reason when the trace is not faithful.
torch::jit::Module TraceModule(torch::nn::Module& model,
                               const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                               const torch::Tensor& example, const TraceOptions& options);

// Inference: freeze (parameters become constants, Conv-BN folding) and optimize_for_inference
// (oneDNN/MKL-DNN fusions where the build has them). The result is for inference only.
torch::jit::Module OptimizeForInference(const torch::jit::Module& traced);

// Training: the graph executor's setting for compiled training (profiling executor, with the
// TensorExpr fuser where this LibTorch can fuse on the device). Returns a description for
// results, e.g. "profiling executor; fuser: off on CPU (LibTorch built without LLVM)".
std::string ConfigureTrainingExecutor(const torch::Device& device);

// Saves a TorchScript file that Python's torch.jit.load (same or newer PyTorch) opens.
void SaveTorchScript(const torch::jit::Module& module, const std::filesystem::path& path);

}  // namespace fwbench
