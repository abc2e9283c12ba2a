#pragma once
// What one step of image classification is, for the LibTorch backends: a training step
// (forward, cross-entropy, backward, SGD update) or an inference step (forward only). The
// forward is a callable so that eager modules and compiled (TorchScript) ones share the step.
#include <functional>

#include <torch/nn/module.h>
#include <torch/optim/sgd.h>
#include <torch/types.h>

#include "core/trial_spec.h"

namespace fwbench {

using Forward = std::function<torch::Tensor(const torch::Tensor&)>;

torch::optim::SGD MakeOptimizer(torch::nn::Module& model, const OptimizerSpec& spec);

// Returns the loss tensor (not yet read back, so the caller decides where the sync happens).
// The loss is computed in fp32 whatever precision the forward ran in. `before_update` runs
// between backward and the optimiser's step (the parity gate's gradient fault).
torch::Tensor TrainStep(const Forward& forward, torch::optim::SGD& optimizer,
                        const torch::Tensor& images, const torch::Tensor& labels,
                        const std::function<void()>& before_update = nullptr);

inline torch::Tensor InferStep(const Forward& forward, const torch::Tensor& images) {
  return forward(images);
}

}  // namespace fwbench
