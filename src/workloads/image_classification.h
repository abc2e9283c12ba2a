#pragma once
// What one step of image classification is, for the LibTorch backends: a training step
// (forward, cross-entropy, backward, SGD update) or an inference step (forward only).
#include <torch/nn/module.h>
#include <torch/optim/sgd.h>
#include <torch/types.h>

#include "core/trial_spec.h"

namespace fwbench {

torch::optim::SGD MakeOptimizer(torch::nn::Module& model, const OptimizerSpec& spec);

// Returns the loss tensor (not yet read back, so the caller decides where the sync happens).
template <typename Model>
torch::Tensor TrainStep(Model& model, torch::optim::SGD& optimizer, const torch::Tensor& images,
                        const torch::Tensor& labels);

template <typename Model>
torch::Tensor InferStep(Model& model, const torch::Tensor& images);

}  // namespace fwbench

#include "workloads/image_classification_inl.h"
