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
  Model("o", std::string("platform = \"onnx\"\nonnx_runtime = \"opencv\"\n") + kSignature,
        {"1/model.onnx"});
  Model("p", std::string("platform = \"aoti\"\n") + kSignature, {"1/model.pt2"});
  const auto models = ScanRepository(dir_);
  ASSERT_EQ(models.size(), 3u);
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
  EXPECT_EQ(models[1].config.onnx_runtime, "opencv");
  EXPECT_EQ(models[0].config.onnx_runtime, "");
  EXPECT_EQ(models[2].config.platform, "aoti");
  ASSERT_EQ(models[2].versions.size(), 1u);
  EXPECT_EQ(models[2].versions[0].file.filename(), "model.pt2");
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
       "batching.max_batch_size must be an integer from 1 to 4096"},
      {std::string("platform = \"tensorrt\"\n") + kSignature,
       "platform \"tensorrt\" is not served"},
      // Issue 17: every key is known, every value in range, before the server listens.
      {std::string("platfrom = \"onnx\"\n") + kSignature, "platfrom is not a known key"},
      {std::string("platform = 5\n") + kSignature, "platform must be a string"},
      {std::string("onnx_runtime = \"openvino\"\n") + kSignature,
       "onnx_runtime applies to platform = \"onnx\" only"},
      {std::string("platform = \"onnx\"\nonnx_runtime = \"tensorrt\"\n") + kSignature,
       "onnx_runtime must be \"openvino\""},
      {std::string(kSignature) + "[batchng]\nmax_batch_size = 4\n", "batchng is not a known key"},
      {std::string("batching = 3\n") + kSignature, "batching must be a table"},
      {"[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [-1, 4]\ndims = [4]\n"
       "[[outputs]]\nname = \"y\"\ndatatype = \"FP32\"\nshape = [-1, 2]\n",
       "inputs[0].dims is not a known key"},
      {"[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [-1, 4]\n"
       "[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [-1, 4]\n"
       "[[outputs]]\nname = \"y\"\ndatatype = \"FP32\"\nshape = [-1, 2]\n",
       "inputs[1].name \"x\" is used twice"},
      {std::string(kSignature) + "[batching]\nmax_batch_size = 99999999999\n",
       "batching.max_batch_size must be an integer from 1 to 4096"},
      {std::string(kSignature) + "[batching]\nmax_queue_delay_us = 9223372036854775807\n",
       "batching.max_queue_delay_us must be an integer from 0 to 10000000"},
      {std::string(kSignature) + "[batching]\nrequest_timeout_ms = 9223372036854775807\n",
       "batching.request_timeout_ms must be an integer from 1 to 3600000"},
      {std::string(kSignature) +
           [] {
             std::string key = "x";
             for (int i = 0; i < 100'000; ++i) key += ".x";
             return key + " = 1\n";
           }(),
       "line 9 has a key with more than 64 dot-separated parts"},
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

TEST_F(ModelRepository, AFolderNameNoRouteCanReachIsRefused) {
  Model("my model", kSignature);
  const std::string error = UsageErrorOf([&] { ScanRepository(dir_); });
  EXPECT_NE(error.find("model folder 'my model'"), std::string::npos) << error;
  EXPECT_NE(error.find("letters, digits"), std::string::npos) << error;
  EXPECT_NE(error.find((dir_ / "my model").string()), std::string::npos) << error;
}

TEST_F(ModelRepository, AVersionLinkedFromOutsideTheRepositoryIsRefused) {
  const auto repo = dir_ / "repo";
  const auto elsewhere = dir_ / "elsewhere";
  std::filesystem::create_directories(repo / "m");
  std::filesystem::create_directories(elsewhere);
  std::ofstream(repo / "m" / "config.toml") << kSignature;
  std::ofstream(elsewhere / "model.pt") << "x";
  std::filesystem::create_directory_symlink(elsewhere, repo / "m" / "1");
  const std::string error = UsageErrorOf([&] { ScanRepository(repo); });
  EXPECT_NE(error.find("outside the repository"), std::string::npos) << error;
  EXPECT_NE(error.find((repo / "m" / "1").string()), std::string::npos) << error;
  // A link that stays inside the repository is fine (a "latest" alias, say).
  std::filesystem::remove(repo / "m" / "1");
  std::filesystem::create_directories(repo / "m" / "1");
  std::ofstream(repo / "m" / "1" / "model.pt") << "x";
  std::filesystem::create_directory_symlink(repo / "m" / "1", repo / "m" / "2");
  EXPECT_EQ(ScanRepository(repo)[0].versions.size(), 2u);
}

}  // namespace
}  // namespace fwbench::serve
