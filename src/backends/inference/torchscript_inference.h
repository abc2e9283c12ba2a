#pragma once
// One code path for running a TorchScript model for inference, shared by `fwbench run`'s
// libtorch/compiled inference trial and by `fwbench serve`, so the two cannot drift: the module
// is frozen and optimised for inference (Conv-BN folding, oneDNN fusions and pre-packed
// weights), and every forward runs under InferenceMode on the process's compute pool, from
// whichever thread calls it (UseProcessComputePool: a thread that did not set the pool itself
// still runs on it).
#include <filesystem>
#include <string>
#include <vector>

#include <torch/csrc/jit/api/module.h>
#include <torch/types.h>

namespace fwbench {

// Applies the process's compute pool (at::set_num_threads) to the calling thread, once per
// thread: a thread that did not set it starts with OpenMP's default team (every core).
void UseProcessComputePool();

class TorchScriptInference {
 public:
  // From a module traced in this process (the trial's compiled mode). Throws when freezing
  // fails: the trial's own trace always freezes.
  static TorchScriptInference FromTraced(const torch::jit::Module& traced);
  // From a TorchScript file (the server's model repository). A module that cannot be frozen
  // (attributes its forward mutates, methods freezing does not support) runs as loaded;
  // executor() then says why. Throws UsageError naming the file when it is not TorchScript.
  static TorchScriptInference Load(const std::filesystem::path& file, const torch::Device& device);

  // One forward; returns the model's outputs in order (a tensor, a tuple or a list of tensors).
  std::vector<torch::Tensor> Run(const std::vector<torch::Tensor>& inputs);

  // How the module runs, for results and logs, e.g. "freeze + optimize_for_inference".
  const std::string& executor() const { return executor_; }

 private:
  TorchScriptInference(torch::jit::Module module, std::string executor)
      : module_(std::move(module)), executor_(std::move(executor)) {}
  torch::jit::Module module_;
  std::string executor_;
};

}  // namespace fwbench
