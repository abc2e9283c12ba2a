#pragma once
// What one step of the LLM LoRA workload is, for the LibTorch backends: a training step (causal
// language-model loss on a packed batch, backward, AdamW on the adapters only) or a generation
// step (prefill the prompts through the KV cache, then greedy decoding one token at a time).
#include <cstdint>
#include <functional>
#include <vector>

#include <torch/optim/adamw.h>
#include <torch/types.h>

#include "core/trial_spec.h"
#include "models/llama.h"

namespace fwbench {

using TokenForward = std::function<torch::Tensor(const torch::Tensor&)>;

// AdamW over the adapter parameters (the base is frozen): lr and weight_decay from the spec.
torch::optim::AdamW MakeAdapterOptimizer(const models::LlamaForCausalLm& model,
                                         const OptimizerSpec& spec);

// batch: [B, T + 1] token ids; inputs are the first T, targets the last T. Returns the mean
// next-token cross-entropy (fp32, not yet read back). `before_update` runs between backward and
// the optimiser's step (the parity gate's rounding probe).
torch::Tensor LlmTrainStep(const TokenForward& forward, torch::optim::AdamW& optimizer,
                           const torch::Tensor& batch,
                           const std::function<void()>& before_update = nullptr);

struct Generation {
  torch::Tensor tokens;              // [B, new_tokens]
  torch::Tensor prompt_last_logits;  // [B, vocab]: the logits after the prompt
  std::int64_t t_first_token = 0;    // MonotonicNs() when the first new token was known
};

// Greedy generation of `new_tokens` tokens after `prompt` ([B, P]), reusing `cache` (reset to
// empty first; it must hold P + new_tokens positions). `sync` runs before each timestamp.
Generation Generate(models::LlamaForCausalLm& model, models::KvCache& cache,
                    const torch::Tensor& prompt, std::int64_t new_tokens,
                    const std::function<void()>& sync);

}  // namespace fwbench
