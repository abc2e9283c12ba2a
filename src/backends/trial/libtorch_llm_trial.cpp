#include "backends/trial/libtorch_llm_trial.h"

#include <torch/torch.h>

#include <fmt/format.h>

#include <iostream>

#include "backends/trial/libtorch_trial.h"
#include "backends/trial/torchscript_compile.h"
#include "backends/trial/training_perturbation.h"
#include "backends/trial/trial_common.h"
#include "core/clock.h"
#include "core/error.h"
#include "data/text_corpus.h"
#include "models/llama.h"
#include "models/llama_checkpoint.h"
#include "workloads/llm_lora.h"

namespace fwbench {

namespace {

// Rows [first, first + n) of the token blocks, wrapping around, as int64 [n, seq_len + 1].
torch::Tensor Rows(const data::TokenBlocks& blocks, std::int64_t first, std::int64_t n) {
  const std::int64_t width = blocks.seq_len + 1;
  torch::Tensor out = torch::empty({n, width}, torch::kInt32);
  auto* dst = out.data_ptr<std::int32_t>();
  for (std::int64_t r = 0; r < n; ++r) {
    const std::int64_t row = (first + r) % blocks.count();
    std::copy_n(blocks.tokens.data() + row * width, width, dst + r * width);
  }
  return out.to(torch::kInt64);
}

models::LoraOptions LoraFrom(const LlmSpec& llm) {
  return {.rank = llm.lora_rank,
          .alpha = llm.lora_alpha,
          .dropout = llm.lora_dropout,
          .targets = llm.lora_targets};
}

}  // namespace

std::string LibtorchLlmUnsupportedReason(const std::string& mode, const std::string& task,
                                         const std::string& precision) {
  if (mode == "aoti") {
    return "libtorch/aoti runs the image_classification workload only (the LLM workload: "
           "libtorch/eager or libtorch/compiled)";
  }
  if (mode != "eager" && mode != "compiled") {
    return fmt::format("libtorch has no mode '{}' (supported: eager, compiled)", mode);
  }
  if (precision != "fp32" && precision != "bf16") {
    return fmt::format("libtorch does not run precision '{}' (supported: fp32, bf16)", precision);
  }
  if (mode == "compiled" && task == "infer") {
    return "libtorch/compiled does not generate text: the tracer cannot capture the KV cache's "
           "in-place updates, and generating without a cache would not be the same work; "
           "compare LLM inference with libtorch/eager (compiled covers LLM training)";
  }
  if (mode == "compiled" && precision != "fp32") {
    return "libtorch/compiled LLM training runs in fp32 only (bf16 uses autocast, which the "
           "tracer does not capture)";
  }
  return "";
}

int RunLibtorchLlmTrial(const TrialSpec& spec, std::int64_t t_main_ns,
                        protocol::EventWriter& events, const TrialFaults& faults) {
  const bool train = spec.task == "train";
  nlohmann::json hello_extra = {{"workload", spec.workload}, {"precision", spec.precision}};
  if (spec.rounding_probe != 0) hello_extra["rounding_probe"] = spec.rounding_probe;
  WriteLibtorchHello(events, spec, t_main_ns, std::move(hello_extra), faults.perturb_weights);
  if (const std::string why = LibtorchLlmUnsupportedReason(spec.mode, spec.task, spec.precision);
      !why.empty()) {
    throw UsageError(why);
  }

  if (!faults.training_fault.empty()) {
    throw UsageError("--fault applies to the image classification workload only");
  }
  if (!train && spec.rounding_probe != 0) {
    throw UsageError("a rounding probe applies to training trials only");
  }
  TrainingPerturbation probe(spec.rounding_probe, "", spec.seed);

  const torch::Device device = InitPhase(events, spec);

  models::LlamaForCausalLm model = TimedPhase(events, "build", [&] {
    models::LlamaForCausalLm m(models::ReadLlamaConfig(spec.weights / "config.json"));
    m->to(device);
    return m;
  });
  const models::LlamaConfig& config = model->config();
  TimedPhase(events, "load_weights", [&] {
    models::LoadLlamaCheckpoint(model, spec.weights);
    if (faults.perturb_weights != 0.0) PerturbWeights(*model, faults.perturb_weights);
    model->AddAdapters(LoraFrom(spec.llm));
    models::LoadPeftAdapter(model, spec.llm.adapter_init);
    if (!train && spec.precision == "bf16") model->to(torch::kBFloat16);
  });

  data::TokenBlocks blocks;
  TimedPhase(events, "data", [&] {
    blocks = data::ReadTokenBlocks(spec.llm.tokens);
    if (blocks.vocab_size > config.vocab_size) {
      throw UsageError(fmt::format(
          "token file '{}' was made with a {}-token vocabulary ({}), larger than the model's "
          "vocab_size {}: the tokenizer does not belong to this checkpoint",
          spec.llm.tokens.string(), blocks.vocab_size, blocks.tokenizer, config.vocab_size));
    }
    if (blocks.seq_len > config.max_position_embeddings) {
      throw UsageError(
          fmt::format("sequence length {} is longer than the model's "
                      "max_position_embeddings {}",
                      blocks.seq_len, config.max_position_embeddings));
    }
  });
  const std::int64_t batch = spec.batch_size;
  const std::int64_t prompt_len = std::min(spec.llm.prompt_tokens, blocks.seq_len);
  const std::int64_t new_tokens = spec.llm.decode_tokens;
  if (!train && (new_tokens < 1 || prompt_len < 1)) {
    throw UsageError(
        fmt::format("LLM inference needs prompt_tokens ≥ 1 and decode_tokens ≥ 1 "
                    "(got {} and {})",
                    prompt_len, new_tokens));
  }
  if (!train && prompt_len + new_tokens > config.max_position_embeddings) {
    throw UsageError(
        fmt::format("prompt {} + {} generated tokens exceed the model's "
                    "max_position_embeddings {}",
                    prompt_len, new_tokens, config.max_position_embeddings));
  }

  if (train) {
    model->train();
  } else {
    model->eval();
  }
  std::optional<torch::jit::Module> traced;
  if (spec.mode == "compiled") {
    traced = TimedPhase(events, "compile", [&] {
      const torch::Tensor example = Rows(blocks, 0, batch).narrow(1, 0, blocks.seq_len).to(device);
      TraceOptions options;
      options.check_input = Rows(blocks, batch, batch).narrow(1, 0, blocks.seq_len).to(device);
      torch::jit::Module m = TraceModule(
          *model, [&](const torch::Tensor& x) { return model->forward(x); }, example, options);
      std::cerr << fmt::format("fwbench trial: compiled with {}\n",
                               ConfigureTrainingExecutor(device));
      return m;
    });
  }
  const TokenForward forward = [&]() -> TokenForward {
    if (!traced) return [&](const torch::Tensor& x) { return model->forward(x); };
    return [&](const torch::Tensor& x) { return traced->forward({x}).toTensor(); };
  }();

  std::optional<torch::optim::AdamW> optimizer;
  if (train) {
    optimizer.emplace(MakeAdapterOptimizer(model, spec.optimizer));
  }
  std::optional<models::KvCache> cache;
  if (!train) cache = model->NewCache(batch, prompt_len + new_tokens);
  const bool autocast = train && spec.precision == "bf16";
  const auto sync = [&] { Synchronize(device); };

  const std::int64_t steps = RunTimedSteps(
      events, spec.budget, device, batch,
      [&](std::int64_t step) { return Rows(blocks, step * batch, batch).to(device); },
      [&](const torch::Tensor& rows) -> StepResult {
        if (train) {
          AutocastScope scope(autocast, device);
          return {.loss = LlmTrainStep(
                      forward, *optimizer, rows,
                      probe.active() ? std::function<void()>([&] { probe.BeforeUpdate(*model); })
                                     : nullptr),
                  .tokens = protocol::EventWriter::Tokens{.tokens = batch * blocks.seq_len,
                                                          .prompt_tokens = {},
                                                          .t_first_token = {}},
                  .outputs = {}};
        }
        torch::InferenceMode guard;
        const Generation g =
            Generate(model, *cache, rows.narrow(1, 0, prompt_len), new_tokens, sync);
        return {.loss = {},
                .tokens = protocol::EventWriter::Tokens{.tokens = batch * new_tokens,
                                                        .prompt_tokens = batch * prompt_len,
                                                        .t_first_token = g.t_first_token},
                .outputs = {g.tokens, g.prompt_last_logits}};
      });

  events.WriteMetric("peak_rss_bytes", static_cast<double>(PeakRssBytes()), "bytes");
  if (!train && spec.parity_batch > 0) {
    // The logits after each of the first parity_batch prompts: the next-token distribution.
    const std::int64_t n = std::min<std::int64_t>(spec.parity_batch, blocks.count());
    const torch::Tensor prompts = Rows(blocks, 0, n).narrow(1, 0, prompt_len).to(device);
    torch::InferenceMode guard;
    models::KvCache fixed = model->NewCache(n, prompt_len + 1);
    const Generation g = Generate(model, fixed, prompts, 1, sync);
    const std::filesystem::path path = spec.output_dir / "logits.safetensors";
    WriteParityOutput(prompts, g.prompt_last_logits, path);
    events.WriteOutput("logits", path.string());
  }
  if (train && spec.save_model) {
    const std::filesystem::path dir = spec.output_dir / "adapter";
    models::SavePeftAdapter(model, dir, spec.weights.string());
    events.WriteOutput("adapter", dir.string());
  }
  events.WriteDone(steps);
  return 0;
}

}  // namespace fwbench
