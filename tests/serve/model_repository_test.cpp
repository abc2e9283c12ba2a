// config.toml and the repository layout: what loads, and every mistake named with its file and
// field.
#include <gtest/gtest.h>

#include <fstream>

#include "serve/model_repository.h"
#include "support/temp_dir_test.h"

namespace fwbench::serve {
namespace {

using fwbench::testing::TempDirTest;
using fwbench::testing::UsageErrorOf;

constexpr const char* kSignature =
    "[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [-1, 4]\n"
    "[[outputs]]\nname = \"y\"\ndatatype = \"FP32\"\nshape = [-1, 2]\n";

class ModelRepository : public TempDirTest {
 protected:
  void Model(const std::string& name, const std::string& config,
             std::vector<std::string> files = {"1/model.pt"}) {
    std::filesystem::create_directories(dir_ / name);
    std::ofstream(dir_ / name / "config.toml") << config;
    for (const auto& f : files) {
      std::filesystem::create_directories((dir_ / name / f).parent_path());
      std::ofstream(dir_ / name / f) << "x";
    }
  }
};

TEST_F(ModelRepository, VersionsSortNumericallyAndBatchingIsRead) {
  Model("m",
        std::string(kSignature) +
            "[batching]\nmax_batch_size = 16\nmax_queue_delay_us = 250\nmax_queue = 9\n",
        {"2/model.pt", "10/model.pt", "1/model.pt", "notes/readme.txt"});
  Model("o", std::string("platform = \"onnx\"\n") + kSignature, {"1/model.onnx"});
  const auto models = ScanRepository(dir_);
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].name, "m");
  ASSERT_EQ(models[0].versions.size(), 3u);
  EXPECT_EQ(models[0].versions[0].version, "1");
  EXPECT_EQ(models[0].versions[2].version, "10");
  EXPECT_EQ(models[0].config.batching.max_batch_size, 16u);
  EXPECT_EQ(models[0].config.batching.max_queue_delay_ns, 250'000);
  EXPECT_EQ(models[0].config.batching.max_queue, 9u);
  EXPECT_EQ(models[0].config.signature.inputs[0].shape, (std::vector<std::int64_t>{-1, 4}));
  EXPECT_EQ(models[1].config.platform, "onnx");
  EXPECT_EQ(models[1].versions[0].file.filename(), "model.onnx");
  // What ModelConfigToml writes reads back the same.
  std::ofstream(dir_ / "m" / "config.toml") << ModelConfigToml(models[0].config);
  const auto again = ReadModelConfig(dir_ / "m" / "config.toml", "m");
  EXPECT_EQ(again.batching.max_batch_size, 16u);
  EXPECT_EQ(again.signature.outputs[0].name, "y");
}

TEST_F(ModelRepository, EveryMistakeNamesTheFileAndWhatIsExpected) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[[inputs]\nname=", "not valid TOML (line 1)"},
      {"[[outputs]]\nname = \"y\"\ndatatype = \"FP32\"\nshape = [-1, 2]\n",
       "needs at least one [[inputs]] entry"},
      {"[[inputs]]\nname = \"x\"\ndatatype = \"FP16\"\nshape = [-1, 4]\n",
       "inputs[0].datatype must be \"FP32\" or \"INT64\""},
      {"[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [4, 4]\n",
       "inputs[0].shape must start with -1"},
      {"[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [-1, 0]\n",
       "inputs[0].shape must hold positive integers or -1"},
      {std::string(kSignature) + "[batching]\nmax_batch = 4\n",
       "batching.max_batch is not a known key"},
      {std::string(kSignature) + "[batching]\nmax_batch_size = 0\n",
       "batching.max_batch_size must be an integer ≥ 1"},
      {std::string("platform = \"tensorrt\"\n") + kSignature,
       "platform \"tensorrt\" is not served"},
  };
  for (const auto& [config, message] : cases) {
    std::ofstream(dir_ / "config.toml") << config;
    const std::string error = UsageErrorOf([&] { ReadModelConfig(dir_ / "config.toml", "m"); });
    EXPECT_NE(error.find((dir_ / "config.toml").string()), std::string::npos) << error;
    EXPECT_NE(error.find(message), std::string::npos) << config << "\n→ " << error;
    EXPECT_NE(error.find("A model's config.toml looks like"), std::string::npos) << error;
  }
}

TEST_F(ModelRepository, LayoutMistakesSayWhatIsMissing) {
  EXPECT_NE(UsageErrorOf([&] { ScanRepository(dir_ / "nope"); }).find("is not a folder"),
            std::string::npos);
  EXPECT_NE(UsageErrorOf([&] { ScanRepository(dir_); }).find("holds no model"), std::string::npos);
  std::filesystem::create_directories(dir_ / "a" / "1");
  EXPECT_NE(UsageErrorOf([&] { ScanRepository(dir_); }).find("model 'a' has no config.toml"),
            std::string::npos);
  std::ofstream(dir_ / "a" / "config.toml") << kSignature;
  EXPECT_NE(UsageErrorOf([&] { ScanRepository(dir_); }).find("version 1 has no model.pt"),
            std::string::npos);
  std::filesystem::remove_all(dir_ / "a" / "1");
  EXPECT_NE(UsageErrorOf([&] { ScanRepository(dir_); }).find("has no numbered version folder"),
            std::string::npos);
}

}  // namespace
}  // namespace fwbench::serve
