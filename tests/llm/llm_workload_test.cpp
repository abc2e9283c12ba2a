// The LLM LoRA workload's pieces end to end in one process: the tiny preset fine-tuned on the
// synthetic corpus, generation through the KV cache, the plan's inputs, merging adapters.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "backends/inputs/llm_inputs.h"
#include "core/error.h"
#include "data/text_corpus.h"
#include "models/llama.h"
#include "models/llama_checkpoint.h"
#include "support/temp_dir_test.h"
#include "workloads/llm_lora.h"

namespace fwbench {
namespace {

namespace fs = std::filesystem;

using fwbench::testing::UsageErrorOf;

class LlmWorkload : public fwbench::testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    torch::set_num_threads(2);
  }
};

torch::Tensor Rows(const data::TokenBlocks& b, std::int64_t first, std::int64_t n) {
  std::vector<std::int64_t> ids;
  for (std::int64_t r = 0; r < n; ++r) {
    const auto row = (first + r) % b.count();
    for (std::int64_t i = 0; i <= b.seq_len; ++i)
      ids.push_back(b.tokens[row * (b.seq_len + 1) + i]);
  }
  return torch::tensor(ids, torch::kInt64).view({n, b.seq_len + 1});
}

TEST_F(LlmWorkload, TinyPresetLoraOnTheSyntheticCorpusLowersTheLossAndLeavesTheBaseBitIdentical) {
  data::WriteSyntheticCorpus(dir_ / "corpus.jsonl", 1, 300);
  const data::TokenBlocks blocks = data::PackDocuments(data::ReadDocuments(dir_ / "corpus.jsonl"),
                                                       *data::MakeByteTokenizer(), 64, "corpus");
  models::LlamaForCausalLm model(models::LlamaPreset("tiny"));
  model->InitWeights(1);
  std::vector<std::pair<std::string, torch::Tensor>> base_before;
  for (const auto& [name, p] : model->BaseParameters()) base_before.emplace_back(name, p.clone());
  model->AddAdapters({.rank = 8, .alpha = 16.0});
  torch::optim::AdamW optimizer = MakeAdapterOptimizer(
      model, {.name = "adamw", .lr = 2e-3, .momentum = 0.0, .weight_decay = 0.0});
  model->train();
  const TokenForward forward = [&](const torch::Tensor& x) { return model->forward(x); };
  std::vector<double> losses;
  for (int step = 0; step < 30; ++step) {
    losses.push_back(LlmTrainStep(forward, optimizer, Rows(blocks, step * 8, 8)).item<double>());
  }
  const double first = losses.front();
  double last = 0;
  for (std::size_t i = losses.size() - 5; i < losses.size(); ++i) last += losses[i] / 5;
  EXPECT_NEAR(first, std::log(256.0), 0.1) << "a random model predicts bytes uniformly";
  EXPECT_LT(last, first - 1.0) << "the adapters learn the corpus's structure";

  const auto base_after = model->BaseParameters();
  ASSERT_EQ(base_after.size(), base_before.size());
  for (std::size_t i = 0; i < base_after.size(); ++i) {
    EXPECT_EQ(base_after[i].first, base_before[i].first);
    EXPECT_TRUE(torch::equal(base_after[i].second, base_before[i].second))
        << base_after[i].first << " changed: only adapters may train";
  }
}

TEST_F(LlmWorkload, GreedyGenerationThroughTheCacheMatchesTheFullSequenceArgmax) {
  models::LlamaForCausalLm model(models::LlamaPreset("tiny"));
  model->InitWeights(2);
  model->AddAdapters({.rank = 4, .alpha = 8.0});
  model->eval();
  torch::InferenceMode guard;
  const torch::Tensor prompt = torch::randint(0, 256, {2, 10}, torch::kInt64);
  models::KvCache cache = model->NewCache(2, 16);
  const Generation g = Generate(model, cache, prompt, 6, [] {});
  ASSERT_EQ(g.tokens.sizes(), (std::vector<std::int64_t>{2, 6}));
  // Replaying prompt + generated tokens without a cache predicts the same tokens.
  const torch::Tensor all = torch::cat({prompt, g.tokens}, 1);
  const torch::Tensor argmax = model->forward(all).argmax(-1);
  EXPECT_TRUE(torch::equal(argmax.narrow(1, 9, 6), g.tokens));
  // A second generation reuses the cache from empty.
  const Generation again = Generate(model, cache, prompt, 6, [] {});
  EXPECT_TRUE(torch::equal(again.tokens, g.tokens));
}

TEST_F(LlmWorkload, PlanInputsAreMadeOnceAndAForeignTokenizerIsRefusedBeforeTraining) {
  LlmPrepareOptions o;
  o.seq_len = 32;
  o.synthetic_documents = 50;
  o.cache_dir = dir_ / "cache";
  std::ostringstream log;
  const LlmPrepared first = PrepareLlmInputs(o, log);
  EXPECT_TRUE(fs::exists(first.checkpoint / "config.json"));
  EXPECT_TRUE(fs::exists(first.adapter_init / "adapter_model.safetensors"));
  EXPECT_EQ(first.facts["tokenizer"], "bytes");
  EXPECT_EQ(first.facts["seq_len"], 32);
  EXPECT_GT(first.facts["sequences"].get<std::int64_t>(), 10);
  EXPECT_GT(first.facts["train_flops_per_token"].get<double>(),
            2.0 * first.facts["prefill_flops_per_token"].get<double>() * 0.9);
  // Every backend starts from these adapters: B = 0 (the base model), A drawn from the seed.
  models::LlamaForCausalLm m(models::ReadLlamaConfig(first.checkpoint / "config.json"));
  m->AddAdapters(models::ReadAdapterConfig(first.adapter_init));
  models::LoadPeftAdapter(m, first.adapter_init);
  for (const auto& [name, p] : m->AdapterParameters()) {
    if (name.find("lora_B") != std::string::npos) EXPECT_EQ(p.abs().max().item<float>(), 0.f);
    if (name.find("lora_A") != std::string::npos) EXPECT_GT(p.abs().max().item<float>(), 0.f);
  }
  const auto made = fs::last_write_time(first.tokens);
  const LlmPrepared second = PrepareLlmInputs(o, log);
  EXPECT_EQ(second.tokens, first.tokens);
  EXPECT_EQ(fs::last_write_time(second.tokens), made) << "reused, not made again";

  // A SentencePiece tokenizer with more pieces than the model's vocabulary.
  std::ofstream(dir_ / "tokenizer.model") << "stand-in";
  o.tokenizer = (dir_ / "tokenizer.model").string();
  o.pack_sentencepiece = [](const fs::path&, const fs::path&, std::int64_t seq_len,
                            const fs::path& out) {
    data::TokenBlocks b;
    b.seq_len = seq_len;
    b.tokens.assign(static_cast<std::size_t>(seq_len + 1) * 4, 7);
    b.tokenizer = "sentencepiece:tokenizer.model";
    b.vocab_size = 32000;
    data::WriteTokenBlocks(b, out);
    return b.vocab_size;
  };
  const std::string error = UsageErrorOf([&] { PrepareLlmInputs(o, log); });
  EXPECT_NE(error.find("has 32000 tokens, but the model's vocab_size is 256"), std::string::npos)
      << error;
  EXPECT_NE(error.find("does not belong to this checkpoint"), std::string::npos) << error;

  // A user checkpoint with a missing shard: named before anything runs.
  models::LlamaForCausalLm small(models::LlamaPreset("tiny"));
  small->InitWeights(3);
  models::SaveLlamaCheckpoint(small, dir_ / "user", /*max_shard_bytes=*/1 << 20);
  std::string shard;
  {
    std::ifstream in(dir_ / "user" / "model.safetensors.index.json");
    shard = nlohmann::json::parse(in)["weight_map"]["model.layers.1.mlp.down_proj.weight"];
  }
  fs::remove(dir_ / "user" / shard);
  o = LlmPrepareOptions{};
  o.cache_dir = dir_ / "cache";
  o.checkpoint = dir_ / "user";
  const std::string missing = UsageErrorOf([&] { PrepareLlmInputs(o, log); });
  EXPECT_NE(missing.find(fmt::format("shard '{}'", shard)), std::string::npos) << missing;
}

// llm.adapter: a trained PEFT folder every backend starts from, checked against the plan's LoRA
// options and the model before any trial.
TEST_F(LlmWorkload, AGivenAdapterIsUsedAsItIsAndOneThatDoesNotFitIsNamed) {
  LlmPrepareOptions o;
  o.seq_len = 32;
  o.synthetic_documents = 50;
  o.cache_dir = dir_ / "cache";
  std::ostringstream log;
  const LlmPrepared fresh = PrepareLlmInputs(o, log);
  const models::LlamaConfig config = models::ReadLlamaConfig(fresh.checkpoint / "config.json");
  models::LoraOptions lora;
  lora.targets = {"v_proj", "q_proj"};  // the order does not matter
  models::WriteInitialPeftAdapter(config, lora, 9, dir_ / "trained", "base");
  o.adapter = dir_ / "trained";
  const LlmPrepared given = PrepareLlmInputs(o, log);
  EXPECT_EQ(given.adapter_init, fs::absolute(dir_ / "trained"));
  EXPECT_EQ(given.facts["adapter"], fs::absolute(dir_ / "trained").string());
  EXPECT_NE(fresh.facts["adapter"].get<std::string>().find("fresh"), std::string::npos);

  // Another rank than the plan's: the message names both and the options to set.
  lora.rank = 4;
  models::WriteInitialPeftAdapter(config, lora, 9, dir_ / "rank4", "base");
  o.adapter = dir_ / "rank4";
  std::string error = UsageErrorOf([&] { PrepareLlmInputs(o, log); });
  EXPECT_NE(error.find("r 4 while the plan has llm.lora_rank 8 (--lora-rank 4)"), std::string::npos)
      << error;
  EXPECT_EQ(error.find("lora_alpha"), std::string::npos) << "only what differs: " << error;

  // A PEFT option the ports do not compute (rank-stabilised scaling): refused by name.
  fs::copy(dir_ / "trained", dir_ / "rslora");
  {
    std::ifstream in(dir_ / "rslora" / "adapter_config.json");
    nlohmann::json config = nlohmann::json::parse(in);
    config["use_rslora"] = true;
    std::ofstream(dir_ / "rslora" / "adapter_config.json") << config.dump();
  }
  o.adapter = dir_ / "rslora";
  error = UsageErrorOf([&] { PrepareLlmInputs(o, log); });
  EXPECT_NE(error.find("\"use_rslora\" is true; fwbench runs plain LoRA"), std::string::npos)
      << error;

  // An adapter of another model (wider projections): the tensor is named, with both shapes.
  models::LlamaConfig wide = config;
  wide.hidden_size *= 2;
  wide.intermediate_size *= 2;
  lora.rank = 8;
  models::WriteInitialPeftAdapter(wide, lora, 9, dir_ / "wide", "other");
  o.adapter = dir_ / "wide";
  error = UsageErrorOf([&] { PrepareLlmInputs(o, log); });
  EXPECT_NE(error.find("tensor 'model.layers.0.self_attn.q_proj.lora_A.weight'"), std::string::npos)
      << error;
  EXPECT_NE(error.find("[8, 512], the configuration implies [8, 256]"), std::string::npos) << error;

  // A folder without the weights.
  fs::remove(dir_ / "trained" / "adapter_model.safetensors");
  o.adapter = dir_ / "trained";
  error = UsageErrorOf([&] { PrepareLlmInputs(o, log); });
  EXPECT_NE(error.find("has no adapter_model.safetensors"), std::string::npos) << error;
}

TEST_F(LlmWorkload, MergedAdaptersGiveAPlainCheckpointThatComputesTheAdaptedFunction) {
  models::LlamaForCausalLm m(models::LlamaPreset("tiny"));
  m->InitWeights(4);
  models::SaveLlamaCheckpoint(m, dir_ / "base");
  m->AddAdapters({.rank = 4, .alpha = 8.0, .targets = {"q_proj", "v_proj", "up_proj"}});
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, p] : m->AdapterParameters()) p.normal_(0.0, 0.05);
  }
  models::SavePeftAdapter(m, dir_ / "adapter", (dir_ / "base").string());
  models::MergeAdapterIntoCheckpoint(dir_ / "base", dir_ / "adapter", dir_ / "merged");

  models::LlamaForCausalLm merged(models::ReadLlamaConfig(dir_ / "merged" / "config.json"));
  models::LoadLlamaCheckpoint(merged, dir_ / "merged");
  m->eval();
  merged->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor tokens = torch::randint(0, 256, {2, 12}, torch::kInt64);
  const torch::Tensor want = m->forward(tokens);
  EXPECT_TRUE(torch::allclose(merged->forward(tokens), want, 1e-4, 1e-4));
  models::LlamaForCausalLm plain(models::LlamaPreset("tiny"));
  models::LoadLlamaCheckpoint(plain, dir_ / "base");
  EXPECT_FALSE(torch::allclose(plain->forward(tokens), want, 1e-4, 1e-4)) << "adapters mattered";
}

}  // namespace
}  // namespace fwbench
