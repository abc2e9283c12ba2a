#pragma once
// ResNet-18/34/50/101/152 (He et al. 2015) with LibTorch's C++ frontend, built to be
// interchangeable with torchvision.models.resnet*: same parameter and buffer names, same shapes,
// same initialisation scheme, Bottleneck with the stride on the 3x3 conv ("ResNet v1.5").
// A torchvision state_dict saved as .safetensors loads strictly (models/weights.h).
//
// Stems:
//   "imagenet": conv1 7x7/2 (no bias) + bn1 + ReLU + max-pool 3x3/2 (padding 1) — torchvision's.
//   "cifar":    conv1 3x3/1 (padding 1, no bias) + bn1 + ReLU, no max-pool — for 32x32 inputs.
// The head is always adaptive average pool to 1x1, flatten, fc.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace fwbench::models {

// Options of one residual block. `in_channels` is what the block receives; it outputs
// planes * expansion channels. A 1x1-conv + BN "downsample" shortcut is created when the stride
// is not 1 or the channel count changes (exactly torchvision's rule).
struct BlockOptions {
  std::int64_t in_channels = 64;
  std::int64_t planes = 64;
  std::int64_t stride = 1;
};

// conv3x3(stride) - bn - relu - conv3x3 - bn, + shortcut, relu. Used by ResNet-18/34.
class BasicBlockImpl : public torch::nn::Module {
 public:
  static constexpr std::int64_t kExpansion = 1;
  explicit BasicBlockImpl(const BlockOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Conv2d conv2{nullptr};
  torch::nn::BatchNorm2d bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};  // registered only when needed
};
TORCH_MODULE(BasicBlock);

// conv1x1 - bn - relu - conv3x3(stride) - bn - relu - conv1x1 (x4) - bn, + shortcut, relu.
// Used by ResNet-50/101/152.
class BottleneckImpl : public torch::nn::Module {
 public:
  static constexpr std::int64_t kExpansion = 4;
  explicit BottleneckImpl(const BlockOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Conv2d conv2{nullptr};
  torch::nn::BatchNorm2d bn2{nullptr};
  torch::nn::Conv2d conv3{nullptr};
  torch::nn::BatchNorm2d bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};  // registered only when needed
};
TORCH_MODULE(Bottleneck);

struct ResNetOptions {
  std::string arch = "resnet18";  // one of ResNetArchs()
  std::string stem = "cifar";     // one of ResNetStems()
  std::int64_t num_classes = 10;  // >= 1
};

// Valid values of ResNetOptions::arch and ::stem, in order.
const std::vector<std::string>& ResNetArchs();
const std::vector<std::string>& ResNetStems();

class ResNetImpl : public torch::nn::Module {
 public:
  // Throws fwbench::UsageError for an unknown arch or stem (naming the valid ones) or
  // num_classes < 1. Initialises like torchvision: kaiming_normal_(fan_out, relu) for convs,
  // BN weight 1 / bias 0, Linear with LibTorch's (= PyTorch's) default. Uses torch's global RNG:
  // call torch::manual_seed first for reproducible weights.
  explicit ResNetImpl(const ResNetOptions& options);
  // x: [N, 3, H, W] float -> logits [N, num_classes].
  torch::Tensor forward(const torch::Tensor& x);
  const ResNetOptions& options() const { return options_; }

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr};
  torch::nn::Sequential layer2{nullptr};
  torch::nn::Sequential layer3{nullptr};
  torch::nn::Sequential layer4{nullptr};
  torch::nn::Linear fc{nullptr};

 private:
  ResNetOptions options_;
  bool max_pool_ = false;
};
TORCH_MODULE(ResNet);

// Same as ResNet(options); the entry point the rest of fwbench uses.
ResNet MakeResNet(const ResNetOptions& options);

}  // namespace fwbench::models
