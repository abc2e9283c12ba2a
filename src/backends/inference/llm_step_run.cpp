#include "backends/inference/llm_step_run.h"

#include <fmt/format.h>
#include <torch/script.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "backends/served/aoti_package.h"
#include "core/error.h"
#include "data/safetensors.h"
#include "models/llama.h"
#include "models/llama_checkpoint.h"

namespace fwbench {

namespace {

namespace st = safetensors;

// One step of generation with the caches kept inside, as LibTorch tensors between calls.
class StepRunner {
 public:
  virtual ~StepRunner() = default;
  virtual void Reset() = 0;  // empty caches: a new generation
  // tokens [1, T] at positions [start, start + T) -> the last position's logits [1, V].
  virtual torch::Tensor Step(const torch::Tensor& tokens, std::int64_t start) = 0;
};

// The merged checkpoint in the C++ model with its own KV cache: the matrix's reference.
class CheckpointRunner : public StepRunner {
 public:
  CheckpointRunner(const std::filesystem::path& dir, std::int64_t cache_len)
      : model_(models::ReadLlamaConfig(dir / "config.json")), cache_len_(cache_len) {
    models::LoadLlamaCheckpoint(model_, dir);
    model_->eval();
  }
  void Reset() override { cache_ = model_->NewCache(1, cache_len_); }
  torch::Tensor Step(const torch::Tensor& tokens, std::int64_t start) override {
    if (cache_.length != start) throw std::logic_error("positions out of order");
    return model_->forward(tokens, cache_).select(1, tokens.size(1) - 1);
  }

 private:
  models::LlamaForCausalLm model_;
  std::int64_t cache_len_;
  models::KvCache cache_;
};

// An exported step: (tokens, keys, values, start) -> (logits, keys_out, values_out).
class ExportedRunner : public StepRunner {
 public:
  explicit ExportedRunner(std::vector<std::int64_t> cache_shape)
      : cache_shape_(std::move(cache_shape)) {}
  void Reset() override {
    keys_ = torch::zeros(cache_shape_);
    values_ = torch::zeros(cache_shape_);
  }
  torch::Tensor Step(const torch::Tensor& tokens, std::int64_t start) override {
    std::vector<torch::Tensor> out = Call({tokens, keys_, values_, torch::tensor({start})});
    if (out.size() != 3) {
      throw std::runtime_error(fmt::format(
          "the step returned {} outputs, expected logits, keys and values", out.size()));
    }
    keys_ = out[1];
    values_ = out[2];
    return out[0];
  }

 protected:
  virtual std::vector<torch::Tensor> Call(const std::vector<torch::Tensor>& inputs) = 0;

 private:
  std::vector<std::int64_t> cache_shape_;
  torch::Tensor keys_, values_;
};

class TorchScriptRunner : public ExportedRunner {
 public:
  TorchScriptRunner(const std::filesystem::path& file, std::vector<std::int64_t> cache_shape)
      : ExportedRunner(std::move(cache_shape)), module_(torch::jit::load(file.string())) {
    module_.eval();
  }

 protected:
  std::vector<torch::Tensor> Call(const std::vector<torch::Tensor>& inputs) override {
    const torch::IValue result = module_.forward({inputs.begin(), inputs.end()});
    std::vector<torch::Tensor> out;
    for (const torch::IValue& v : result.toTupleRef().elements()) out.push_back(v.toTensor());
    return out;
  }

 private:
  torch::jit::Module module_;
};

class AotiRunner : public ExportedRunner {
 public:
  AotiRunner(const std::filesystem::path& file, std::vector<std::int64_t> cache_shape)
      : ExportedRunner(std::move(cache_shape)), package_(file) {}

 protected:
  std::vector<torch::Tensor> Call(const std::vector<torch::Tensor>& inputs) override {
    return package_.Run(inputs);
  }

 private:
  AotiPackage package_;
};

torch::Tensor ReadPrompt(const std::filesystem::path& path) {
  const st::File file = st::File::Read(path);
  const st::TensorInfo* t = file.Find("tokens");
  if (t == nullptr || t->dtype != st::DType::kI64 || t->shape.size() != 2 || t->shape[0] != 1) {
    throw UsageError(
        fmt::format("{}: expected a tensor \"tokens\" of I64 [1, prompt tokens]", path.string()));
  }
  torch::Tensor prompt = torch::empty(t->shape, torch::kInt64);
  std::memcpy(prompt.data_ptr(), file.Bytes(*t).data(), file.Bytes(*t).size());
  return prompt;
}

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

struct Generation {
  std::vector<std::int64_t> tokens;
  torch::Tensor prefill_logits;
  double prefill_s = 0.0;
  double decode_s = 0.0;
};

// The protocol of llm_export.generate: a prefill step, then new_tokens - 1 decode steps.
Generation Generate(StepRunner& step, const torch::Tensor& prompt, std::int64_t new_tokens) {
  using Clock = std::chrono::steady_clock;
  Generation g;
  step.Reset();
  const auto t0 = Clock::now();
  torch::Tensor logits = step.Step(prompt, 0);
  std::int64_t token = logits[0].argmax().item<std::int64_t>();
  const auto t1 = Clock::now();
  g.prefill_logits = logits.to(torch::kFloat32).clone();  // for parity: in neither phase's time
  g.tokens.push_back(token);
  const auto t2 = Clock::now();
  const std::int64_t p = prompt.size(1);
  for (std::int64_t i = 1; i < new_tokens; ++i) {
    logits = step.Step(torch::tensor({{token}}), p + i - 1);
    token = logits[0].argmax().item<std::int64_t>();
    g.tokens.push_back(token);
  }
  g.prefill_s = Seconds(t1 - t0);
  g.decode_s = Seconds(Clock::now() - t2);
  return g;
}

std::string FirstLine(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  std::string text = c10 != nullptr ? c10->what_without_backtrace() : e.what();
  while (!text.empty() && (text.front() == '\n' || text.front() == ' ')) text.erase(0, 1);
  return text.substr(0, std::min<std::size_t>(text.find('\n'), 400));
}

}  // namespace

nlohmann::json RunLlmStep(const nlohmann::json& request) {
  std::string runtime, file, prompt_path, config, out;
  std::int64_t new_tokens = 0, cache_len = 0, threads = 1, repeats = 3;
  try {
    runtime = request.at("runtime").get<std::string>();
    file = request.at("file").get<std::string>();
    prompt_path = request.at("prompt").get<std::string>();
    config = request.at("config").get<std::string>();
    out = request.at("out").get<std::string>();
    new_tokens = request.at("new_tokens").get<std::int64_t>();
    cache_len = request.at("cache_len").get<std::int64_t>();
    threads = request.value("threads", std::int64_t{1});
    repeats = std::max<std::int64_t>(1, request.value("repeats", std::int64_t{3}));
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(
        fmt::format("llm-export-run request: {} (fields: runtime, file, prompt, "
                    "config, out, new_tokens, cache_len, threads, repeats)",
                    e.what()));
  }
  if (threads < 1 || new_tokens < 1 || cache_len < 1) {
    throw UsageError("llm-export-run request: threads, new_tokens and cache_len must be at least 1");
  }
  const std::string version = TORCH_VERSION;
  const std::map<std::string, std::string> names = {
      {"libtorch", "LibTorch " + version + " (C++ model, merged checkpoint)"},
      {"torchscript", "LibTorch " + version + " (TorchScript)"},
      {"aoti", "LibTorch " + version + " (AOTInductor package)"}};
  if (!names.contains(runtime)) {
    throw UsageError(fmt::format(
        "llm-export-run: unknown runtime '{}' (this program runs libtorch, torchscript, aoti)",
        runtime));
  }
  nlohmann::json answer = {{"ok", false}, {"runtime", names.at(runtime)}};
  const torch::Tensor prompt = ReadPrompt(prompt_path);
  const models::LlamaConfig c = models::ReadLlamaConfig(config);
  const std::vector<std::int64_t> cache_shape = {c.num_hidden_layers, 1, c.num_key_value_heads,
                                                 cache_len, c.hidden_size / c.num_attention_heads};
  torch::set_num_threads(static_cast<int>(threads));
  torch::InferenceMode guard;

  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<StepRunner> step;
  try {
    if (runtime == "libtorch") {
      step = std::make_unique<CheckpointRunner>(file, cache_len);
    } else if (runtime == "torchscript") {
      step = std::make_unique<TorchScriptRunner>(file, cache_shape);
    } else {
      step = std::make_unique<AotiRunner>(file, cache_shape);
    }
  } catch (const std::exception& e) {
    answer["stage"] = "load";
    answer["reason"] = FirstLine(e);
    return answer;
  }
  answer["load_s"] = Seconds(std::chrono::steady_clock::now() - t0);
  try {
    Generate(*step, prompt, new_tokens);  // warm-up, untimed
    answer["prefill_s"] = nlohmann::json::array();
    answer["decode_s"] = nlohmann::json::array();
    for (std::int64_t r = 0; r < repeats; ++r) {
      const Generation g = Generate(*step, prompt, new_tokens);
      if (r == 0) {
        answer["tokens"] = g.tokens;
        std::filesystem::create_directories(out);
        const std::filesystem::path path = std::filesystem::path(out) / "logits.safetensors";
        const torch::Tensor logits = g.prefill_logits.contiguous();
        st::Write(path, {{"logits",
                          st::DType::kF32,
                          {logits.size(0), logits.size(1)},
                          {static_cast<const std::byte*>(logits.data_ptr()),
                           static_cast<std::size_t>(logits.numel()) * sizeof(float)}}});
        answer["logits"] = path.string();
      }
      answer["prefill_s"].push_back(g.prefill_s);
      answer["decode_s"].push_back(g.decode_s);
    }
  } catch (const std::exception& e) {
    answer["stage"] = "run";
    answer["reason"] = FirstLine(e);
    return answer;
  }
  answer["ok"] = true;
  return answer;
}

}  // namespace fwbench
