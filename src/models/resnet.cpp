#include "models/resnet.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>

#include "core/error.h"

namespace fwbench::models {

namespace {

namespace nn = torch::nn;

struct ArchSpec {
  const char* name;
  bool bottleneck;
  std::array<std::int64_t, 4> blocks;
};

constexpr std::array<ArchSpec, 5> kArchs = {{
    {"resnet18", false, {2, 2, 2, 2}},
    {"resnet34", false, {3, 4, 6, 3}},
    {"resnet50", true, {3, 4, 6, 3}},
    {"resnet101", true, {3, 4, 23, 3}},
    {"resnet152", true, {3, 8, 36, 3}},
}};

nn::Conv2d Conv(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride,
                std::int64_t padding) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

nn::Conv2d Conv3x3(std::int64_t in, std::int64_t out, std::int64_t stride) {
  return Conv(in, out, 3, stride, 1);
}

nn::Conv2d Conv1x1(std::int64_t in, std::int64_t out, std::int64_t stride) {
  return Conv(in, out, 1, stride, 0);
}

// torchvision's shortcut: Sequential(conv1x1(stride), BatchNorm2d) — children "0" and "1".
nn::Sequential MaybeDownsample(const BlockOptions& o, std::int64_t expansion) {
  const std::int64_t out = o.planes * expansion;
  if (o.stride == 1 && o.in_channels == out) return nn::Sequential(nullptr);
  return nn::Sequential(Conv1x1(o.in_channels, out, o.stride), nn::BatchNorm2d(out));
}

template <typename Block>
nn::Sequential MakeLayer(std::int64_t& in_channels, std::int64_t planes, std::int64_t blocks,
                         std::int64_t stride) {
  nn::Sequential layer;
  layer->push_back(Block(BlockOptions{in_channels, planes, stride}));
  in_channels = planes * Block::Impl::kExpansion;
  for (std::int64_t i = 1; i < blocks; ++i) {
    layer->push_back(Block(BlockOptions{in_channels, planes, 1}));
  }
  return layer;
}

std::string Quoted(const std::vector<std::string>& names) {
  std::vector<std::string> quoted;
  for (const auto& n : names) quoted.push_back(fmt::format("\"{}\"", n));
  return fmt::format("{}", fmt::join(quoted, ", "));
}

}  // namespace

BasicBlockImpl::BasicBlockImpl(const BlockOptions& o)
    : conv1(register_module("conv1", Conv3x3(o.in_channels, o.planes, o.stride))),
      bn1(register_module("bn1", nn::BatchNorm2d(o.planes))),
      conv2(register_module("conv2", Conv3x3(o.planes, o.planes, 1))),
      bn2(register_module("bn2", nn::BatchNorm2d(o.planes))),
      downsample(MaybeDownsample(o, kExpansion)) {
  if (!downsample.is_empty()) register_module("downsample", downsample);
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = torch::relu(bn1(conv1(x)));
  out = bn2(conv2(out));
  out += downsample.is_empty() ? x : downsample->forward(x);
  return torch::relu(out);
}

BottleneckImpl::BottleneckImpl(const BlockOptions& o)
    : conv1(register_module("conv1", Conv1x1(o.in_channels, o.planes, 1))),
      bn1(register_module("bn1", nn::BatchNorm2d(o.planes))),
      conv2(register_module("conv2", Conv3x3(o.planes, o.planes, o.stride))),
      bn2(register_module("bn2", nn::BatchNorm2d(o.planes))),
      conv3(register_module("conv3", Conv1x1(o.planes, o.planes * kExpansion, 1))),
      bn3(register_module("bn3", nn::BatchNorm2d(o.planes * kExpansion))),
      downsample(MaybeDownsample(o, kExpansion)) {
  if (!downsample.is_empty()) register_module("downsample", downsample);
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = torch::relu(bn1(conv1(x)));
  out = torch::relu(bn2(conv2(out)));
  out = bn3(conv3(out));
  out += downsample.is_empty() ? x : downsample->forward(x);
  return torch::relu(out);
}

const std::vector<std::string>& ResNetArchs() {
  static const std::vector<std::string> archs = [] {
    std::vector<std::string> v;
    for (const auto& a : kArchs) v.emplace_back(a.name);
    return v;
  }();
  return archs;
}

const std::vector<std::string>& ResNetStems() {
  static const std::vector<std::string> stems = {"imagenet", "cifar"};
  return stems;
}

ResNetImpl::ResNetImpl(const ResNetOptions& options) : options_(options) {
  const auto arch = std::find_if(kArchs.begin(), kArchs.end(),
                                 [&](const ArchSpec& a) { return options.arch == a.name; });
  if (arch == kArchs.end()) {
    throw UsageError(fmt::format("unknown ResNet arch \"{}\"; expected one of {}", options.arch,
                                 Quoted(ResNetArchs())));
  }
  if (options.stem == "imagenet") {
    conv1 = register_module("conv1", Conv(3, 64, 7, 2, 3));
    max_pool_ = true;
  } else if (options.stem == "cifar") {
    conv1 = register_module("conv1", Conv(3, 64, 3, 1, 1));
  } else {
    throw UsageError(fmt::format("unknown ResNet stem \"{}\"; expected one of {}", options.stem,
                                 Quoted(ResNetStems())));
  }
  if (options.num_classes < 1) {
    throw UsageError(
        fmt::format("ResNet num_classes is {}; expected at least 1", options.num_classes));
  }
  bn1 = register_module("bn1", nn::BatchNorm2d(64));

  std::int64_t channels = 64;
  auto make = [&](std::int64_t planes, std::int64_t blocks, std::int64_t stride) {
    return arch->bottleneck ? MakeLayer<Bottleneck>(channels, planes, blocks, stride)
                            : MakeLayer<BasicBlock>(channels, planes, blocks, stride);
  };
  layer1 = register_module("layer1", make(64, arch->blocks[0], 1));
  layer2 = register_module("layer2", make(128, arch->blocks[1], 2));
  layer3 = register_module("layer3", make(256, arch->blocks[2], 2));
  layer4 = register_module("layer4", make(512, arch->blocks[3], 2));
  fc = register_module("fc", nn::Linear(channels, options.num_classes));

  for (const auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, /*a=*/0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = module->as<nn::BatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  }
}

torch::Tensor ResNetImpl::forward(const torch::Tensor& input) {
  torch::Tensor x = torch::relu(bn1(conv1(input)));
  if (max_pool_) x = torch::max_pool2d(x, /*kernel_size=*/3, /*stride=*/2, /*padding=*/1);
  x = layer1->forward(x);
  x = layer2->forward(x);
  x = layer3->forward(x);
  x = layer4->forward(x);
  x = torch::adaptive_avg_pool2d(x, {1, 1});
  x = torch::flatten(x, 1);
  return fc(x);
}

ResNet MakeResNet(const ResNetOptions& options) { return ResNet(options); }

}  // namespace fwbench::models
