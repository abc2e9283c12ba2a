#include "models/llama_checkpoint.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include <fstream>
#include <set>

#include "core/error.h"
#include "data/safetensors.h"
#include "llm/small_llama.h"
#include "models/weights.h"
#include "support/temp_dir_test.h"

namespace fwbench::models {
namespace {

namespace fs = std::filesystem;

using fwbench::testing::UsageErrorOf;

class LlamaCheckpoint : public fwbench::testing::TempDirTest {
 protected:
  static LlamaForCausalLm Model(std::uint64_t seed) {
    LlamaForCausalLm m(SmallLlamaConfig(3));
    m->InitWeights(seed);
    return m;
  }
  static nlohmann::json Json(const fs::path& p) {
    std::ifstream in(p);
    return nlohmann::json::parse(in);
  }
  static void WriteJson(const fs::path& p, const nlohmann::json& j) {
    std::ofstream(p) << j.dump();
  }
};

TEST_F(LlamaCheckpoint, ASingleFileCheckpointRoundTripsWithHuggingFaceNamesAndConfig) {
  LlamaForCausalLm saved = Model(1);
  SaveLlamaCheckpoint(saved, dir_);
  ASSERT_TRUE(fs::exists(dir_ / "model.safetensors"));
  EXPECT_FALSE(fs::exists(dir_ / "model.safetensors.index.json"));
  const auto config = Json(dir_ / "config.json");
  EXPECT_EQ(config["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(config["num_key_value_heads"], 2);
  const auto file = safetensors::File::Read(dir_ / "model.safetensors");
  ASSERT_NE(file.Find("model.layers.2.self_attn.q_proj.weight"), nullptr);
  EXPECT_EQ(file.Find("model.layers.2.self_attn.k_proj.weight")->shape,
            (std::vector<std::int64_t>{16, 32}));

  LlamaForCausalLm loaded(ReadLlamaConfig(dir_ / "config.json"));
  EXPECT_NE(StateDictFingerprint(*loaded), StateDictFingerprint(*saved));
  LoadLlamaCheckpoint(loaded, dir_);
  EXPECT_EQ(StateDictFingerprint(*loaded), StateDictFingerprint(*saved));
}

TEST_F(LlamaCheckpoint, AShardedCheckpointLoadsThroughItsIndexAndAMissingShardIsNamed) {
  LlamaForCausalLm saved = Model(2);
  SaveLlamaCheckpoint(saved, dir_, /*max_shard_bytes=*/40000);
  const auto index = Json(dir_ / "model.safetensors.index.json");
  std::set<std::string> shards;
  for (const auto& [name, file] : index["weight_map"].items()) shards.insert(file);
  ASSERT_GE(shards.size(), 3u);
  EXPECT_TRUE(shards.contains(fmt::format("model-00001-of-{:05d}.safetensors", shards.size())));
  EXPECT_EQ(index["weight_map"].size(), saved->BaseParameters().size());

  LlamaForCausalLm loaded(SmallLlamaConfig(3));
  LoadLlamaCheckpoint(loaded, dir_);
  EXPECT_EQ(StateDictFingerprint(*loaded), StateDictFingerprint(*saved));
  EXPECT_EQ(CheckLlamaCheckpoint(dir_).num_hidden_layers, 3);

  const std::string last = *shards.rbegin();
  fs::remove(dir_ / last);
  const std::string error = UsageErrorOf([&] { LoadLlamaCheckpoint(loaded, dir_); });
  EXPECT_NE(error.find(fmt::format("shard '{}'", last)), std::string::npos) << error;
  EXPECT_NE(error.find("is missing"), std::string::npos) << error;
}

TEST_F(LlamaCheckpoint, ShapesThatDoNotMatchConfigJsonAreNamedBeforeAnyWeightIsCopied) {
  LlamaForCausalLm saved = Model(3);
  SaveLlamaCheckpoint(saved, dir_);
  auto config = Json(dir_ / "config.json");
  config["intermediate_size"] = 40;
  WriteJson(dir_ / "config.json", config);
  EXPECT_NE(UsageErrorOf([&] {
              CheckLlamaCheckpoint(dir_);
            }).find("has shape [32, 48], the configuration implies [32, 40]"),
            std::string::npos);
  LlamaForCausalLm loaded(ReadLlamaConfig(dir_ / "config.json"));
  const std::string before = StateDictFingerprint(*loaded);
  const std::string error = UsageErrorOf([&] { LoadLlamaCheckpoint(loaded, dir_); });
  EXPECT_NE(error.find("tensor 'model.layers.0.mlp.down_proj.weight'"), std::string::npos) << error;
  EXPECT_NE(error.find("has shape [32, 48], the configuration implies [32, 40]"), std::string::npos)
      << error;
  EXPECT_EQ(StateDictFingerprint(*loaded), before) << "nothing copied";
}

TEST_F(LlamaCheckpoint, MissingTensorsAnUnknownArchitectureAndACorruptFileAreClearErrors) {
  LlamaForCausalLm saved = Model(4);
  SaveLlamaCheckpoint(saved, dir_);

  LlamaConfig deeper = SmallLlamaConfig(3);
  deeper.num_hidden_layers = 4;
  LlamaForCausalLm four(deeper);
  std::string error = UsageErrorOf([&] { LoadLlamaCheckpoint(four, dir_); });
  EXPECT_NE(error.find("tensor(s) the model needs are in no file: model.layers.3."),
            std::string::npos)
      << error;

  auto config = Json(dir_ / "config.json");
  config["architectures"] = {"GPT2LMHeadModel"};
  config["model_type"] = "gpt2";
  WriteJson(dir_ / "config.json", config);
  error = UsageErrorOf([&] { ReadLlamaConfig(dir_ / "config.json"); });
  EXPECT_NE(error.find("architecture GPT2LMHeadModel (model_type \"gpt2\") is not supported"),
            std::string::npos)
      << error;

  config = Json(dir_ / "config.json");
  config["model_type"] = "llama";
  config.erase("hidden_size");
  WriteJson(dir_ / "config.json", config);
  error = UsageErrorOf([&] { ReadLlamaConfig(dir_ / "config.json"); });
  EXPECT_NE(error.find("field \"hidden_size\" is missing"), std::string::npos) << error;

  // Header length field claims more than the file holds.
  {
    std::fstream f(dir_ / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    const std::uint64_t huge = 1ULL << 40;
    f.write(reinterpret_cast<const char*>(&huge), 8);
  }
  LlamaForCausalLm loaded(SmallLlamaConfig(3));
  error = UsageErrorOf([&] { LoadLlamaCheckpoint(loaded, dir_); });
  EXPECT_NE(error.find("model.safetensors"), std::string::npos) << error;
  EXPECT_NE(error.find("header"), std::string::npos) << error;

  fs::remove(dir_ / "model.safetensors");
  error = UsageErrorOf([&] { LoadLlamaCheckpoint(loaded, dir_); });
  EXPECT_NE(error.find("has neither model.safetensors nor model.safetensors.index.json"),
            std::string::npos)
      << error;
}

TEST_F(LlamaCheckpoint, AdaptersSaveInPeftLayoutAndLoadBack) {
  LlamaForCausalLm m = Model(5);
  m->AddAdapters({.rank = 4, .alpha = 8.0, .targets = {"q_proj", "v_proj", "down_proj"}});
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, p] : m->AdapterParameters()) p.normal_();
  }
  SavePeftAdapter(m, dir_ / "adapter", "fwbench/tiny");
  const auto config = Json(dir_ / "adapter" / "adapter_config.json");
  EXPECT_EQ(config["peft_type"], "LORA");
  EXPECT_EQ(config["r"], 4);
  EXPECT_EQ(config["lora_alpha"], 8.0);
  EXPECT_EQ(config["target_modules"], nlohmann::json({"q_proj", "v_proj", "down_proj"}));
  const auto file = safetensors::File::Read(dir_ / "adapter" / "adapter_model.safetensors");
  EXPECT_EQ(file.tensors().size(), 3u * 3u * 2u);
  const auto* a = file.Find("base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (std::vector<std::int64_t>{4, 32}));
  EXPECT_NE(file.Find("base_model.model.model.layers.2.mlp.down_proj.lora_B.weight"), nullptr);

  LlamaForCausalLm other = Model(5);
  other->AddAdapters(*m->lora);
  LoadPeftAdapter(other, dir_ / "adapter");
  const auto want = m->AdapterParameters();
  const auto got = other->AdapterParameters();
  ASSERT_EQ(want.size(), got.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_TRUE(torch::equal(want[i].second, got[i].second)) << want[i].first;
  }
  LlamaForCausalLm rank8 = Model(5);
  rank8->AddAdapters({.rank = 8, .targets = {"q_proj", "v_proj", "down_proj"}});
  EXPECT_NE(
      UsageErrorOf([&] { LoadPeftAdapter(rank8, dir_ / "adapter"); }).find("has shape [4, 32]"),
      std::string::npos);
}

}  // namespace
}  // namespace fwbench::models
