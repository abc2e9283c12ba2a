#include "workloads/image_classification.h"

namespace fwbench {

torch::optim::SGD MakeOptimizer(torch::nn::Module& model, const OptimizerSpec& spec) {
  return torch::optim::SGD(
      model.parameters(),
      torch::optim::SGDOptions(spec.lr).momentum(spec.momentum).weight_decay(spec.weight_decay));
}

}  // namespace fwbench
