#include "backends/inference/torchscript_inference.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/passes/frozen_graph_optimizations.h>
#include <torch/script.h>

#include "backends/trial/torchscript_compile.h"
#include "core/error.h"

namespace fwbench {

namespace {

constexpr const char* kOptimized = "freeze + optimize_for_inference";

std::string FirstLine(const std::string& text) {
  const std::string line = text.substr(0, text.find('\n'));
  return line.size() > 300 ? line.substr(0, 300) + "…" : line;
}

}  // namespace

void UseProcessComputePool() {
  // As PyTorch's own worker threads do: at::init_num_threads sets this thread's OpenMP team to
  // the process's at::get_num_threads().
  thread_local const bool initialised = [] {
    at::init_num_threads();
    return true;
  }();
  (void)initialised;
}

TorchScriptInference TorchScriptInference::FromTraced(const torch::jit::Module& traced) {
  return {OptimizeForInference(traced), kOptimized};
}

TorchScriptInference TorchScriptInference::Load(const std::filesystem::path& file,
                                                const torch::Device& device) {
  torch::jit::Module module;
  try {
    module = torch::jit::load(file.string(), device);
  } catch (const c10::Error& e) {
    throw UsageError(fmt::format("{} is not a TorchScript file LibTorch can load: {}",
                                 file.string(),
                                 std::string(e.what_without_backtrace()).substr(0, 300)));
  }
  module.eval();
  try {
    return {OptimizeForInference(module), kOptimized};
  } catch (const std::exception& e) {
    const std::string why = e.what();
    return {std::move(module), fmt::format("as loaded (freezing failed: {})", FirstLine(why))};
  }
}

std::vector<torch::Tensor> TorchScriptInference::Run(const std::vector<torch::Tensor>& inputs) {
  UseProcessComputePool();
  torch::InferenceMode guard;
  const torch::jit::IValue result = module_.forward({inputs.begin(), inputs.end()});
  std::vector<torch::Tensor> outputs;
  if (result.isTensor()) {
    outputs.push_back(result.toTensor());
  } else if (result.isTuple()) {
    for (const auto& e : result.toTupleRef().elements()) outputs.push_back(e.toTensor());
  } else if (result.isTensorList()) {
    outputs = result.toTensorVector();
  } else {
    throw std::runtime_error("forward() returned neither a tensor nor a tuple of tensors");
  }
  return outputs;
}

}  // namespace fwbench
