#include "workloads/image_classification.h"

#include <torch/nn/functional/loss.h>

namespace fwbench {

torch::optim::SGD MakeOptimizer(torch::nn::Module& model, const OptimizerSpec& spec) {
  return torch::optim::SGD(
      model.parameters(),
      torch::optim::SGDOptions(spec.lr).momentum(spec.momentum).weight_decay(spec.weight_decay));
}

torch::Tensor TrainStep(const Forward& forward, torch::optim::SGD& optimizer,
                        const torch::Tensor& images, const torch::Tensor& labels,
                        const std::function<void()>& before_update) {
  optimizer.zero_grad();
  torch::Tensor logits = forward(images);
  torch::Tensor loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), labels);
  loss.backward();
  if (before_update) before_update();
  optimizer.step();
  return loss.detach();
}

}  // namespace fwbench
