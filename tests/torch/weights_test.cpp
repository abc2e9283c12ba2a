#include "models/weights.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/safetensors.h"
#include "models/resnet.h"

namespace fwbench::models {
namespace {

namespace fs = std::filesystem;
namespace st = fwbench::safetensors;

class WeightsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / (std::string("fwbench_weights_") + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Makes the BN running stats non-trivial so that eval() logits depend on the buffers too.
  static void Perturb(ResNet& net) {
    torch::NoGradGuard no_grad;
    for (const auto& m : net->modules(false)) {
      if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
        bn->running_mean.normal_(0.0, 0.1);
        bn->running_var.uniform_(0.5, 2.0);
        bn->weight.uniform_(0.5, 1.5);
        bn->bias.normal_(0.0, 0.1);
        bn->num_batches_tracked.fill_(7);
      }
    }
  }

  // Writes a file with the net's tensors, letting `edit` change the list first.
  template <typename Edit>
  fs::path WriteEdited(const ResNet& net, const std::string& file, Edit edit) {
    std::vector<std::pair<std::string, torch::Tensor>> named;
    for (const auto& p : net->named_parameters()) named.emplace_back(p.key(), p.value().detach());
    for (const auto& b : net->named_buffers()) named.emplace_back(b.key(), b.value());
    edit(named);
    std::vector<st::TensorToWrite> tensors;
    for (auto& [name, t] : named) {
      t = t.contiguous();
      const st::DType dtype = t.scalar_type() == torch::kLong       ? st::DType::kI64
                              : t.scalar_type() == torch::kInt      ? st::DType::kI32
                              : t.scalar_type() == torch::kHalf     ? st::DType::kF16
                              : t.scalar_type() == torch::kBFloat16 ? st::DType::kBF16
                              : t.scalar_type() == torch::kDouble   ? st::DType::kF64
                                                                    : st::DType::kF32;
      tensors.push_back(
          {name, dtype, t.sizes().vec(),
           std::span<const std::byte>(static_cast<const std::byte*>(t.data_ptr()), t.nbytes())});
    }
    const fs::path path = dir_ / file;
    st::Write(path, tensors);
    return path;
  }

  static std::string LoadError(torch::nn::Module& module, const fs::path& path) {
    try {
      LoadStateDict(module, path);
    } catch (const UsageError& e) {
      return e.what();
    }
    ADD_FAILURE() << "LoadStateDict accepted " << path;
    return "";
  }

  fs::path dir_;
};

TEST_F(WeightsTest, SaveLoadRoundTripReproducesLogitsExactly) {
  torch::manual_seed(10);
  ResNet a = MakeResNet({"resnet18", "cifar", 10});
  Perturb(a);
  a->eval();
  const fs::path path = dir_ / "a.safetensors";
  SaveStateDict(*a, path, {{"arch", "resnet18"}, {"stem", "cifar"}});

  const st::File file = st::File::Read(path);
  EXPECT_EQ(file.metadata().at("arch"), "resnet18");
  EXPECT_EQ(file.tensors().size(), 122u);
  ASSERT_NE(file.Find("bn1.num_batches_tracked"), nullptr);
  EXPECT_EQ(file.Find("bn1.num_batches_tracked")->dtype, st::DType::kI64);
  EXPECT_EQ(file.Find("conv1.weight")->dtype, st::DType::kF32);
  EXPECT_EQ(file.Find("conv1.weight")->shape, (std::vector<std::int64_t>{64, 3, 3, 3}));

  torch::manual_seed(11);  // different initial weights
  ResNet b = MakeResNet({"resnet18", "cifar", 10});
  EXPECT_NE(StateDictFingerprint(*a), StateDictFingerprint(*b));
  LoadStateDict(*b, path);
  b->eval();
  EXPECT_EQ(StateDictFingerprint(*a), StateDictFingerprint(*b));
  EXPECT_EQ(b->bn1->num_batches_tracked.item<std::int64_t>(), 7);
  EXPECT_TRUE(b->conv1->weight.requires_grad());  // loaded in place, still a parameter

  torch::NoGradGuard no_grad;
  const auto x = torch::randn({3, 3, 32, 32});
  const auto la = a->forward(x);
  const auto lb = b->forward(x);
  EXPECT_TRUE(torch::equal(la, lb)) << "max diff " << (la - lb).abs().max().item<float>();
}

TEST_F(WeightsTest, FingerprintIsStableAndSensitive) {
  torch::manual_seed(12);
  ResNet a = MakeResNet({"resnet18", "cifar", 10});
  const std::string f1 = StateDictFingerprint(*a);
  EXPECT_EQ(f1.size(), 16u);
  EXPECT_EQ(f1, StateDictFingerprint(*a));
  {
    torch::NoGradGuard no_grad;
    a->fc->bias[3] += 1e-6f;
  }
  EXPECT_NE(f1, StateDictFingerprint(*a));
}

TEST_F(WeightsTest, MissingTensorsAreListed) {
  ResNet net = MakeResNet({"resnet18", "cifar", 10});
  const auto path = WriteEdited(net, "missing.safetensors", [](auto& named) {
    std::erase_if(named, [](const auto& p) {
      return p.first == "fc.bias" || p.first == "layer2.0.downsample.1.running_var";
    });
  });
  const auto before = StateDictFingerprint(*net);
  const std::string msg = LoadError(*net, path);
  EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("2 missing tensor(s)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fc.bias"), std::string::npos) << msg;
  EXPECT_NE(msg.find("layer2.0.downsample.1.running_var"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("unexpected"), std::string::npos) << msg;
  EXPECT_EQ(before, StateDictFingerprint(*net));  // untouched on failure
}

TEST_F(WeightsTest, UnexpectedTensorsAreListed) {
  ResNet net = MakeResNet({"resnet18", "cifar", 10});
  const auto path = WriteEdited(net, "unexpected.safetensors", [](auto& named) {
    named.emplace_back("fc2.weight", torch::zeros({2, 2}));
    named.emplace_back("layer1.0.downsample.0.weight", torch::zeros({64, 64, 1, 1}));
  });
  const std::string msg = LoadError(*net, path);
  EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("2 unexpected tensor(s)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fc2.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("layer1.0.downsample.0.weight"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("missing"), std::string::npos) << msg;
}

TEST_F(WeightsTest, WrongShapeIsNamed) {
  ResNet net = MakeResNet({"resnet18", "cifar", 10});
  const auto path = WriteEdited(net, "shape.safetensors", [](auto& named) {
    for (auto& [name, t] : named) {
      if (name == "fc.weight") t = torch::zeros({1000, 512});
    }
  });
  const std::string msg = LoadError(*net, path);
  EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("'fc.weight' has shape [1000, 512] in the file, the model expects [10, 512]"),
            std::string::npos)
      << msg;
}

TEST_F(WeightsTest, ImagenetCheckpointIntoCifarModelIsRejected) {
  ResNet imagenet = MakeResNet({"resnet18", "imagenet", 10});
  const auto path = dir_ / "imagenet.safetensors";
  SaveStateDict(*imagenet, path);
  ResNet cifar = MakeResNet({"resnet18", "cifar", 10});
  const std::string msg = LoadError(*cifar, path);
  EXPECT_NE(msg.find("'conv1.weight' has shape [64, 3, 7, 7]"), std::string::npos) << msg;

  ResNet r34 = MakeResNet({"resnet34", "imagenet", 10});
  const std::string msg34 = LoadError(*r34, path);
  EXPECT_NE(msg34.find("missing tensor(s)"), std::string::npos) << msg34;
  EXPECT_NE(msg34.find("layer1.2.conv1.weight"), std::string::npos) << msg34;
}

TEST_F(WeightsTest, WrongIntegerDTypeIsRejected) {
  ResNet net = MakeResNet({"resnet18", "cifar", 10});
  const auto path = WriteEdited(net, "dtype.safetensors", [](auto& named) {
    for (auto& [name, t] : named) {
      if (name == "bn1.num_batches_tracked") t = t.to(torch::kInt);
      if (name == "bn1.running_mean") t = t.to(torch::kLong);
    }
  });
  const std::string msg = LoadError(*net, path);
  EXPECT_NE(msg.find("'bn1.num_batches_tracked' has dtype I32 in the file, the model expects I64"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("'bn1.running_mean' has dtype I64 in the file, the model expects F32"),
            std::string::npos)
      << msg;
}

TEST_F(WeightsTest, LowerAndHigherPrecisionFloatsAreConverted) {
  torch::manual_seed(13);
  ResNet source = MakeResNet({"resnet18", "cifar", 10});
  for (const auto dtype : {torch::kHalf, torch::kBFloat16, torch::kDouble}) {
    SCOPED_TRACE(c10::toString(dtype));
    const auto path = WriteEdited(source, "converted.safetensors", [&](auto& named) {
      for (auto& [name, t] : named) {
        if (t.is_floating_point()) t = t.to(dtype);
      }
    });
    ResNet target = MakeResNet({"resnet18", "cifar", 10});
    LoadStateDict(*target, path);
    const auto expected =
        source->layer3[1]->as<BasicBlock>()->conv2->weight.to(dtype).to(torch::kFloat);
    const auto loaded = target->layer3[1]->as<BasicBlock>()->conv2->weight;
    EXPECT_EQ(loaded.scalar_type(), torch::kFloat);
    EXPECT_TRUE(torch::equal(loaded, expected));
  }
}

TEST_F(WeightsTest, CorruptOrMissingFileIsUsageError) {
  ResNet net = MakeResNet({"resnet18", "cifar", 10});
  const auto absent = dir_ / "absent.safetensors";
  EXPECT_NE(LoadError(*net, absent).find(absent.string()), std::string::npos);
  const auto garbage = dir_ / "garbage.safetensors";
  std::ofstream(garbage) << "definitely not a safetensors file";
  const std::string msg = LoadError(*net, garbage);
  EXPECT_NE(msg.find(garbage.string()), std::string::npos) << msg;
}

}  // namespace
}  // namespace fwbench::models
