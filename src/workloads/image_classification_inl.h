#pragma once
#include <torch/nn/functional/loss.h>

namespace fwbench {

template <typename Model>
torch::Tensor TrainStep(Model& model, torch::optim::SGD& optimizer, const torch::Tensor& images,
                        const torch::Tensor& labels) {
  optimizer.zero_grad();
  torch::Tensor logits = model->forward(images);
  torch::Tensor loss = torch::nn::functional::cross_entropy(logits, labels);
  loss.backward();
  optimizer.step();
  return loss.detach();
}

template <typename Model>
torch::Tensor InferStep(Model& model, const torch::Tensor& images) {
  return model->forward(images);
}

}  // namespace fwbench
