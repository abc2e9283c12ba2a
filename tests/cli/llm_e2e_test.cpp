// The LLM LoRA workload through `fwbench run`: LibTorch (C++) and the PyTorch (Python) worker on
// the tiny preset and the synthetic corpus, side by side, with the parity gate on the first
// losses and the next-token logits; then the trained adapters merged with `fwbench lora-merge`.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/safetensors.h"
#include "run_fwbench.h"

namespace fwbench {
namespace {

using fwbench::testing::FreshDir;
using fwbench::testing::Output;
using fwbench::testing::RunDir;
using fwbench::testing::RunFwbench;
namespace st = fwbench::safetensors;

const nlohmann::json& Config(const nlohmann::json& results, const std::string& id) {
  for (const auto& c : results["configurations"]) {
    if (c["config"] == id) return c;
  }
  throw std::runtime_error("no configuration " + id);
}

// Why the named Python worker cannot run the LLM workload here, or "".
std::string LlmWorkerUnavailable(const std::string& name) {
  const Output doctor = RunFwbench("doctor --json");
  const auto env = nlohmann::json::parse(doctor.text.substr(doctor.text.find('{')), nullptr, false);
  if (!env.is_object()) return "fwbench doctor --json failed: " + doctor.text;
  for (const auto& w : env["workers"]) {
    if (w["name"] != name) continue;
    if (!w["available"].get<bool>()) return w["reason"].get<std::string>();
    const auto workloads = w.value("workloads", nlohmann::json::array());
    if (std::find(workloads.begin(), workloads.end(), "llm_lora") == workloads.end()) {
      return "the probed " + name + " worker does not list the llm_lora workload";
    }
    return "";
  }
  return "no " + name + " worker in the catalogue";
}

std::string PytorchUnavailable() { return LlmWorkerUnavailable("pytorch"); }

// The trial folder of a run under `out` whose name holds `part`.
std::filesystem::path TrialFolder(const std::filesystem::path& out, const std::string& part) {
  for (const auto& e : std::filesystem::directory_iterator(RunDir(out) / "trials")) {
    if (e.path().filename().string().find(part) != std::string::npos) return e.path();
  }
  throw std::runtime_error("no trial folder with '" + part + "' in " + RunDir(out).string());
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

// The Keras 3 port (keras3_llm.py) on every Keras backend, jit_compile on and off, next to the
// reference: the same first 20 losses and next-token logits as LibTorch eager, within the gate.
TEST(LlmE2E, EveryKerasBackendFineTunesAndGeneratesWithParityAgainstLibtorch) {
  const std::string why = LlmWorkerUnavailable("keras3");
  if (!why.empty()) GTEST_SKIP() << "the Keras 3 worker cannot run here: " << why;
  const std::vector<std::string> modes = {"tensorflow", "tensorflow-nojit", "jax", "jax-nojit",
                                          "torch"};
  std::string backends = "libtorch,pytorch";
  for (const auto& m : modes) backends += ",keras3/" + m;
  const auto out = FreshDir("llm_keras");
  std::filesystem::path keras_adapter;
  const Output r = RunFwbench(
      "run --workload llm_lora --quick --trials 1 --batch-sizes 2 --train-batch-size 4 "
      "--backends " +
      backends + " --no-report --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.text;
  const auto results = nlohmann::json::parse(std::ifstream(RunDir(out) / "results.json"));
  for (const auto& m : modes) {
    const auto& train = Config(results, "keras3/" + m + "/train/b4");
    EXPECT_EQ(train["trials_ok"], 1) << m;
    EXPECT_EQ(train["parity"]["status"], "pass") << m << " " << train["parity"].dump();
    EXPECT_EQ(train["parity"]["reference"], "libtorch/eager/train/b4") << m;
    EXPECT_GT(train["metrics"]["tokens_per_s"]["median"].get<double>(), 0.0) << m;
    EXPECT_LT(train["metrics"]["loss_last"]["median"].get<double>(),
              train["metrics"]["loss_first"]["median"].get<double>())
        << m;
    const auto& infer = Config(results, "keras3/" + m + "/infer/b2");
    EXPECT_EQ(infer["trials_ok"], 1) << m;
    EXPECT_EQ(infer["parity"]["status"], "pass") << m << " " << infer["parity"].dump();
    for (const char* key : {"ttft_ms", "prefill_tokens_per_s", "decode_tokens_per_s"}) {
      EXPECT_GT(infer["metrics"][key]["median"].get<double>(), 0.0) << m << " " << key;
    }
  }
  // Each Keras training trial saved its adapters in PEFT's layout and names.
  int adapters = 0;
  for (const auto& e : std::filesystem::directory_iterator(RunDir(out) / "trials")) {
    if (e.path().filename().string().find("keras3-") == std::string::npos) continue;
    if (!std::filesystem::exists(e.path() / "adapter" / "adapter_config.json")) continue;
    if (e.path().filename().string().find("keras3-jax-train") != std::string::npos) {
      keras_adapter = e.path() / "adapter";
    }
    const auto file = st::File::Read(e.path() / "adapter" / "adapter_model.safetensors");
    const st::TensorInfo* a =
        file.Find("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
    ASSERT_NE(a, nullptr) << e.path();
    EXPECT_EQ(a->shape, (std::vector<std::int64_t>{8, 256})) << e.path() << ": PEFT's [r, in]";
    ++adapters;
  }
  EXPECT_EQ(adapters, static_cast<int>(modes.size()));
  const auto env = nlohmann::json::parse(std::ifstream(RunDir(out) / "env.json"));
  EXPECT_NE(env["ports"]["keras3"]["files"].dump().find("keras3_llm.py"), std::string::npos)
      << env["ports"].dump();

  // MFU divides by the fastest GEMM of the run: fwbench measured each Python framework's before
  // the trials, one probe per library (tf.matmul and XLA outran LibTorch's MKL 2x on an AMD CPU,
  // and Keras/TF read 163% of LibTorch's peak).
  std::vector<std::string> probed;
  for (const auto& p : env["matmul_peaks"]) {
    probed.push_back(p.value("backend", "") + "/" + p.value("mode", ""));
    EXPECT_GT(p.value("flops_per_s", 0.0), 0.0) << p.dump();
  }
  EXPECT_EQ(probed, (std::vector<std::string>{"pytorch/eager", "keras3/tensorflow", "keras3/jax",
                                              "keras3/torch"}))
      << env["matmul_peaks"].dump() << ": the -nojit modes share their backend's library";
  bool noted = false;
  for (const auto& n : results["notes"]) {
    noted |= n.get<std::string>().starts_with("MFU on ");
  }
  EXPECT_TRUE(noted) << results["notes"].dump();
  for (const auto& c : results["configurations"]) {
    for (const char* key : {"mfu", "prefill_mfu", "decode_mfu"}) {
      if (!c["metrics"].contains(key)) continue;
      EXPECT_LE(c["metrics"][key]["median"].get<double>(), 1.0) << c["config"] << " " << key;
    }
  }

  // PEFT portability: an adapter trained by Keras (on JAX) loads in PyTorch, one trained by
  // PyTorch loads in Keras (on TensorFlow and torch), and each gives LibTorch's logits with that
  // adapter (the parity gate); the trained adapter moved the logits off the fresh ones.
  const std::filesystem::path torch_adapter = TrialFolder(out, "pytorch-eager-train") / "adapter";
  ASSERT_FALSE(keras_adapter.empty()) << "no keras3/jax adapter";
  for (const auto& [adapter, others] :
       {std::pair{keras_adapter, std::string("pytorch,keras3/tensorflow")},
        std::pair{torch_adapter, std::string("keras3/tensorflow,keras3/torch")}}) {
    const auto again = FreshDir("llm_keras_adapter");
    const Output a = RunFwbench(
        "run --workload llm_lora --quick --trials 1 --tasks infer --batch-sizes 2 --llm-adapter " +
        adapter.string() + " --backends libtorch," + others + " --no-report --out " +
        again.string());
    ASSERT_EQ(a.code, 0) << a.text;
    EXPECT_NE(a.text.find("adapters: starting from " + adapter.string()), std::string::npos)
        << a.text;
    const auto with = nlohmann::json::parse(std::ifstream(RunDir(again) / "results.json"));
    ASSERT_EQ(with["configurations"].size(), 3u) << with["configurations"].dump();
    for (const auto& c : with["configurations"]) {
      if (c["config"] == "libtorch/eager/infer/b2") continue;
      EXPECT_EQ(c["parity"]["status"], "pass") << adapter << " " << c["parity"].dump();
    }
    const auto logits = [](const std::filesystem::path& trial) {
      const auto file = st::File::Read(trial / "logits.safetensors");
      return st::ToFloat32(file, *file.Find("logits"));
    };
    const std::vector<float> fresh = logits(TrialFolder(out, "libtorch-eager-infer-b2"));
    const std::vector<float> trained = logits(TrialFolder(again, "libtorch-eager-infer-b2"));
    ASSERT_EQ(fresh.size(), trained.size());
    float moved = 0;
    for (std::size_t i = 0; i < fresh.size(); ++i) {
      moved = std::max(moved, std::abs(fresh[i] - trained[i]));
    }
    EXPECT_GT(moved, 1e-3F) << adapter << ": the logits are the fresh adapters'";
  }
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
