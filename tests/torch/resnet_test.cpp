#include "models/resnet.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>

#include "core/error.h"

namespace fwbench::models {
namespace {

std::int64_t CountParameters(const torch::nn::Module& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

struct ArchCase {
  const char* arch;
  std::int64_t params_imagenet_1000;  // torchvision's count
  std::size_t num_tensors;            // len(torchvision state_dict()): params + buffers
};

// Readable ctest names ("GetParam() = resnet50" instead of a byte dump).
void PrintTo(const ArchCase& c, std::ostream* os) { *os << c.arch; }

class ResNetArchTest : public ::testing::TestWithParam<ArchCase> {};

TEST_P(ResNetArchTest, ParameterCountMatchesTorchvision) {
  torch::manual_seed(0);
  const ResNet net = MakeResNet({GetParam().arch, "imagenet", 1000});
  EXPECT_EQ(CountParameters(*net), GetParam().params_imagenet_1000);
  const auto params = net->named_parameters();
  const auto buffers = net->named_buffers();
  EXPECT_EQ(params.size() + buffers.size(), GetParam().num_tensors);

  // Cifar stem: conv1 is 3x3 instead of 7x7, no other difference.
  const ResNet cifar = MakeResNet({GetParam().arch, "cifar", 1000});
  EXPECT_EQ(CountParameters(*cifar), GetParam().params_imagenet_1000 - 64 * 3 * (49 - 9));
}

TEST_P(ResNetArchTest, OutputShapesForBothStems) {
  torch::manual_seed(1);
  torch::NoGradGuard no_grad;
  ResNet imagenet = MakeResNet({GetParam().arch, "imagenet", 7});
  imagenet->eval();
  EXPECT_EQ(imagenet->forward(torch::randn({2, 3, 64, 64})).sizes(), (c10::IntArrayRef{2, 7}));
  ResNet cifar = MakeResNet({GetParam().arch, "cifar", 10});
  cifar->eval();
  const torch::Tensor logits = cifar->forward(torch::randn({2, 3, 32, 32}));
  EXPECT_EQ(logits.sizes(), (c10::IntArrayRef{2, 10}));
  EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
}

INSTANTIATE_TEST_SUITE_P(All, ResNetArchTest,
                         ::testing::Values(ArchCase{"resnet18", 11'689'512, 122},
                                           ArchCase{"resnet34", 21'797'672, 218},
                                           ArchCase{"resnet50", 25'557'032, 320},
                                           ArchCase{"resnet101", 44'549'160, 626},
                                           ArchCase{"resnet152", 60'192'808, 932}),
                         [](const auto& info) { return std::string(info.param.arch); });

std::map<std::string, std::vector<std::int64_t>> Shapes(const torch::nn::Module& m) {
  std::map<std::string, std::vector<std::int64_t>> out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value().sizes().vec();
  for (const auto& b : m.named_buffers()) out[b.key()] = b.value().sizes().vec();
  return out;
}

TEST(ResNetTest, TorchvisionNamesResNet18) {
  const auto shapes = Shapes(*MakeResNet({"resnet18", "imagenet", 1000}));
  using V = std::vector<std::int64_t>;
  const std::map<std::string, V> expected = {
      {"conv1.weight", V{64, 3, 7, 7}},
      {"bn1.weight", V{64}},
      {"bn1.bias", V{64}},
      {"bn1.running_mean", V{64}},
      {"bn1.running_var", V{64}},
      {"bn1.num_batches_tracked", V{}},
      {"layer1.0.conv1.weight", V{64, 64, 3, 3}},
      {"layer1.1.bn2.running_var", V{64}},
      {"layer2.0.conv1.weight", V{128, 64, 3, 3}},
      {"layer2.0.downsample.0.weight", V{128, 64, 1, 1}},
      {"layer2.0.downsample.1.weight", V{128}},
      {"layer2.0.downsample.1.num_batches_tracked", V{}},
      {"layer4.1.conv2.weight", V{512, 512, 3, 3}},
      {"fc.weight", V{1000, 512}},
      {"fc.bias", V{1000}},
  };
  for (const auto& [name, shape] : expected) {
    ASSERT_TRUE(shapes.count(name)) << name;
    EXPECT_EQ(shapes.at(name), shape) << name;
  }
  EXPECT_FALSE(shapes.count("layer1.0.downsample.0.weight"));  // no shortcut conv in layer1
  EXPECT_FALSE(shapes.count("conv1.bias"));
}

TEST(ResNetTest, TorchvisionNamesResNet50) {
  const auto shapes = Shapes(*MakeResNet({"resnet50", "imagenet", 1000}));
  using V = std::vector<std::int64_t>;
  // Bottleneck v1.5: stride on conv2 (3x3); layer1 has a shortcut (64 -> 256 channels).
  const std::map<std::string, V> expected = {
      {"layer1.0.conv1.weight", V{64, 64, 1, 1}},
      {"layer1.0.conv3.weight", V{256, 64, 1, 1}},
      {"layer1.0.downsample.0.weight", V{256, 64, 1, 1}},
      {"layer2.0.conv1.weight", V{128, 256, 1, 1}},
      {"layer2.0.conv2.weight", V{128, 128, 3, 3}},
      {"layer2.0.downsample.0.weight", V{512, 256, 1, 1}},
      {"layer3.5.bn3.running_mean", V{1024}},
      {"layer4.2.conv3.weight", V{2048, 512, 1, 1}},
      {"fc.weight", V{1000, 2048}},
  };
  for (const auto& [name, shape] : expected) {
    ASSERT_TRUE(shapes.count(name)) << name;
    EXPECT_EQ(shapes.at(name), shape) << name;
  }
  EXPECT_FALSE(shapes.count("layer1.1.downsample.0.weight"));
  EXPECT_FALSE(shapes.count("layer3.6.conv1.weight"));

  // The stride sits on the 3x3 conv: a 2x2 input to layer2's first block stays 2x2 through
  // conv1 (1x1, stride 1) and halves in conv2.
  ResNet net = MakeResNet({"resnet50", "imagenet", 1000});
  auto* block = net->layer2[0]->as<Bottleneck>();
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(block->conv1->options.stride()->at(0), 1);
  EXPECT_EQ(block->conv2->options.stride()->at(0), 2);
  EXPECT_EQ(block->downsample[0]->as<torch::nn::Conv2d>()->options.stride()->at(0), 2);
}

TEST(ResNetTest, StemsDiffer) {
  ResNet imagenet = MakeResNet({"resnet18", "imagenet", 10});
  ResNet cifar = MakeResNet({"resnet18", "cifar", 10});
  EXPECT_EQ(imagenet->conv1->weight.sizes(), (c10::IntArrayRef{64, 3, 7, 7}));
  EXPECT_EQ(imagenet->conv1->options.stride()->at(0), 2);
  EXPECT_EQ(cifar->conv1->weight.sizes(), (c10::IntArrayRef{64, 3, 3, 3}));
  EXPECT_EQ(cifar->conv1->options.stride()->at(0), 1);
  // Spatial size before the head: imagenet stem downsamples 4x, then layers 8x; cifar only 8x.
  torch::NoGradGuard no_grad;
  imagenet->eval();
  cifar->eval();
  auto trunk = [](ResNet& net, const torch::Tensor& x, bool pool) {
    auto y = torch::relu(net->bn1(net->conv1(x)));
    if (pool) y = torch::max_pool2d(y, 3, 2, 1);
    return net->layer4->forward(
        net->layer3->forward(net->layer2->forward(net->layer1->forward(y))));
  };
  EXPECT_EQ(trunk(imagenet, torch::randn({1, 3, 64, 64}), true).sizes(),
            (c10::IntArrayRef{1, 512, 2, 2}));
  EXPECT_EQ(trunk(cifar, torch::randn({1, 3, 32, 32}), false).sizes(),
            (c10::IntArrayRef{1, 512, 4, 4}));
}

TEST(ResNetTest, InitialisationLikeTorchvision) {
  torch::manual_seed(3);
  ResNet net = MakeResNet({"resnet50", "imagenet", 1000});
  // kaiming_normal_(fan_out, relu): std = sqrt(2 / (out_channels * k * k)).
  const auto w = net->layer3[0]->as<Bottleneck>()->conv2->weight;  // [256, 256, 3, 3]
  const double expected_std = std::sqrt(2.0 / (256 * 9));
  EXPECT_NEAR(w.std().item<double>(), expected_std, expected_std * 0.02);
  EXPECT_NEAR(w.mean().item<double>(), 0.0, expected_std * 0.02);
  for (const auto& m : net->modules(false)) {
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      EXPECT_TRUE(torch::all(bn->weight == 1).item<bool>());
      EXPECT_TRUE(torch::all(bn->bias == 0).item<bool>());
    }
  }
  // Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
  const double bound = 1.0 / std::sqrt(2048.0);
  EXPECT_LE(net->fc->weight.abs().max().item<double>(), bound);
  EXPECT_GT(net->fc->weight.abs().max().item<double>(), bound * 0.99);
  EXPECT_LE(net->fc->bias.abs().max().item<double>(), bound);
}

TEST(ResNetTest, UnknownArchOrStemIsUsageError) {
  try {
    MakeResNet({"resnet19", "cifar", 10});
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("\"resnet19\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("\"resnet18\", \"resnet34\", \"resnet50\", \"resnet101\", \"resnet152\""),
              std::string::npos)
        << msg;
  }
  try {
    MakeResNet({"resnet18", "mnist", 10});
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("\"mnist\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("\"imagenet\", \"cifar\""), std::string::npos) << msg;
  }
  EXPECT_THROW(MakeResNet({"resnet18", "cifar", 0}), UsageError);
  EXPECT_THROW(MakeResNet({"ResNet18", "cifar", 10}), UsageError);  // names are case-sensitive
}

TEST(ResNetTest, DefaultsAreCifarResNet18With10Classes) {
  const ResNetOptions options;
  ResNet net = MakeResNet(options);
  EXPECT_EQ(net->options().arch, "resnet18");
  EXPECT_EQ(net->options().stem, "cifar");
  EXPECT_EQ(net->fc->weight.size(0), 10);
}

TEST(ResNetTest, TrainStepUpdatesBatchNormStats) {
  torch::manual_seed(4);
  ResNet net = MakeResNet({"resnet18", "cifar", 10});
  net->train();
  torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.1));
  const auto x = torch::randn({4, 3, 32, 32});
  const auto y = torch::randint(0, 10, {4}, torch::kLong);
  const auto before = net->fc->weight.clone();
  sgd.zero_grad();
  torch::nn::functional::cross_entropy(net->forward(x), y).backward();
  sgd.step();
  EXPECT_FALSE(torch::equal(before, net->fc->weight));
  EXPECT_EQ(net->bn1->num_batches_tracked.item<std::int64_t>(), 1);
  EXPECT_FALSE(torch::all(net->bn1->running_mean == 0).item<bool>());
}

}  // namespace
}  // namespace fwbench::models
