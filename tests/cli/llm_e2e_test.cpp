// The LLM LoRA workload through `fwbench run`: LibTorch (C++) and the PyTorch (Python) worker on
// the tiny preset and the synthetic corpus, side by side, with the parity gate on the first
// losses and the next-token logits; then the trained adapters merged with `fwbench lora-merge`.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "run_fwbench.h"

namespace fwbench {
namespace {

using fwbench::testing::FreshDir;
using fwbench::testing::Output;
using fwbench::testing::RunDir;
using fwbench::testing::RunFwbench;

const nlohmann::json& Config(const nlohmann::json& results, const std::string& id) {
  for (const auto& c : results["configurations"]) {
    if (c["config"] == id) return c;
  }
  throw std::runtime_error("no configuration " + id);
}

// Why the PyTorch worker cannot run here, or "".
std::string PytorchUnavailable() {
  const Output doctor = RunFwbench("doctor --json");
  const auto env = nlohmann::json::parse(doctor.text.substr(doctor.text.find('{')), nullptr, false);
  if (!env.is_object()) return "fwbench doctor --json failed: " + doctor.text;
  for (const auto& w : env["workers"]) {
    if (w["name"] != "pytorch") continue;
    if (!w["available"].get<bool>()) return w["reason"].get<std::string>();
    const auto workloads = w.value("workloads", nlohmann::json::array());
    if (std::find(workloads.begin(), workloads.end(), "llm_lora") == workloads.end()) {
      return "the probed PyTorch worker does not list the llm_lora workload";
    }
    return "";
  }
  return "no pytorch worker in the catalogue";
}

TEST(LlmE2E, LibtorchAndPytorchFineTuneTheTinyPresetWithParityTokensAndMfu) {
  const std::string why = PytorchUnavailable();
  if (!why.empty()) GTEST_SKIP() << "the PyTorch worker cannot run here: " << why;
  const auto out = FreshDir("llm_run");
  const Output r = RunFwbench(
      "run --workload llm_lora --quick --trials 2 --batch-sizes 2 --train-batch-size 4 "
      "--backends libtorch,pytorch --no-report --out " +
      out.string());
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_NE(r.text.find("matmul peak:"), std::string::npos) << r.text;
  const auto results = nlohmann::json::parse(std::ifstream(RunDir(out) / "results.json"));

  for (const char* id : {"libtorch/eager/train/b4", "pytorch/eager/train/b4"}) {
    const auto& c = Config(results, id);
    EXPECT_EQ(c["trials_ok"], 2) << id;
    EXPECT_TRUE(c["ranked"].get<bool>()) << id << " " << c["parity"].dump();
    const auto& m = c["metrics"];
    // 4 sequences of 64 tokens per step.
    EXPECT_NEAR(m["tokens_per_s"]["median"].get<double>(),
                256 * m["steps_per_s"]["median"].get<double>(),
                1e-6 * m["tokens_per_s"]["median"].get<double>());
    const double mfu = m["mfu"]["median"].get<double>();
    EXPECT_GT(mfu, 0.0) << id;
    EXPECT_LT(mfu, 1.0) << id << ": above the measured matmul peak";
    EXPECT_LT(m["loss_last"]["median"].get<double>(), m["loss_first"]["median"].get<double>())
        << id;
  }
  // The Python port trains on the same batches from the same weights: the parity gate compared
  // its first losses with LibTorch's.
  const auto& py = Config(results, "pytorch/eager/train/b4");
  EXPECT_EQ(py["parity"]["status"], "pass") << py["parity"].dump();
  EXPECT_EQ(py["parity"]["reference"], "libtorch/eager/train/b4");
  const auto& py_infer = Config(results, "pytorch/eager/infer/b2");
  EXPECT_EQ(py_infer["parity"]["status"], "pass") << py_infer["parity"].dump();
  for (const char* id : {"libtorch/eager/infer/b2", "pytorch/eager/infer/b2"}) {
    const auto& m = Config(results, id)["metrics"];
    for (const char* key :
         {"ttft_ms", "prefill_tokens_per_s", "decode_tokens_per_s", "decode_mfu"}) {
      EXPECT_GT(m[key]["median"].get<double>(), 0.0) << id << " " << key;
    }
  }

  // The boilerplate metric counts each backend's port of this workload, not of ResNet.
  const auto env = nlohmann::json::parse(std::ifstream(RunDir(out) / "env.json"));
  const auto files = [&](const char* backend) { return env["ports"][backend]["files"].dump(); };
  EXPECT_NE(files("libtorch").find("models/llama.cpp"), std::string::npos) << env["ports"].dump();
  EXPECT_EQ(files("libtorch").find("resnet"), std::string::npos) << env["ports"].dump();
  EXPECT_NE(files("pytorch").find("torch_llm.py"), std::string::npos) << env["ports"].dump();
  ASSERT_EQ(env["matmul_peak"].size(), 1u) << "one thread count in this run";
  EXPECT_GT(env["matmul_peak"].begin()->value("flops_per_s", 0.0), 0.0)
      << env["matmul_peak"].dump();

  // The first repetition of each training configuration saved its adapters, PEFT layout.
  std::filesystem::path adapter;
  for (const auto& e : std::filesystem::directory_iterator(RunDir(out) / "trials")) {
    if (e.path().filename().string().find("libtorch-eager-train") != std::string::npos &&
        std::filesystem::exists(e.path() / "adapter" / "adapter_config.json")) {
      adapter = e.path() / "adapter";
    }
  }
  ASSERT_FALSE(adapter.empty()) << "no saved adapter";
  const auto manifest = nlohmann::json::parse(std::ifstream(RunDir(out) / "manifest.json"));
  const std::string checkpoint = manifest["llm"]["checkpoint"];
  const Output merged = RunFwbench("lora-merge --checkpoint " + checkpoint + " --adapter " +
                                   adapter.string() + " --out " + (out / "merged").string());
  EXPECT_EQ(merged.code, 0) << merged.text;
  EXPECT_TRUE(std::filesystem::exists(out / "merged" / "model.safetensors"));
}

TEST(LlmE2E, ABrokenCheckpointOrAnUnknownPresetIsAUsageErrorBeforeAnyTrial) {
  const auto out = FreshDir("llm_bad");
  std::filesystem::create_directories(out / "ckpt");
  std::ofstream(out / "ckpt" / "config.json")
      << R"({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]})";
  Output r = RunFwbench("run --workload llm_lora --backends libtorch --llm-checkpoint " +
                        (out / "ckpt").string() + " --out " + out.string());
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("architecture GPT2LMHeadModel (model_type \"gpt2\") is not supported"),
            std::string::npos)
      << r.text;
  EXPECT_EQ(r.text.find("run 20"), std::string::npos) << "no run started: " << r.text;

  r = RunFwbench("run --workload llm_lora --backends libtorch --llm-preset gpt9 --out " +
                 out.string());
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("unknown model preset 'gpt9' (known: tiny, 125m, tinyllama-1.1b"),
            std::string::npos)
      << r.text;

  r = RunFwbench("run --workload llm_lora --backends libtorch/compiled --tasks infer --out " +
                 out.string());
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("libtorch/compiled does not generate text"), std::string::npos) << r.text;
}

// Naming libtorch/compiled with both tasks (as examples/llm-lora-tiny.toml does) runs its
// training and leaves out only the generation it cannot do, with the reason.
TEST(LlmE2E, ACompiledBackendNamedWithBothTasksRunsTrainingAndSaysWhyNotGeneration) {
  const auto out = fwbench::testing::FreshDir("llm_compiled_both_tasks");
  const Output r =
      RunFwbench("run " + std::string(FWBENCH_SOURCE_DIR) +
                 "/examples/llm-lora-tiny.toml --quick --trials 1 --train-batch-size 2 --backends "
                 "libtorch/compiled --no-report --out " +
                 out.string());
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_NE(r.text.find("leaving out libtorch/compiled/infer"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("does not generate text"), std::string::npos) << r.text;
  const auto results =
      nlohmann::json::parse(std::ifstream(fwbench::testing::RunDir(out) / "results.json"));
  ASSERT_EQ(results["configurations"].size(), 1u) << results["configurations"].dump();
  EXPECT_EQ(
      results["configurations"][0]["config"].get<std::string>().rfind("libtorch/compiled/train", 0),
      0u);
}

}  // namespace
}  // namespace fwbench
