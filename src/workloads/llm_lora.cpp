#include "workloads/llm_lora.h"

#include <torch/nn/functional/loss.h>
#include <torch/torch.h>

#include "core/clock.h"

namespace fwbench {

torch::optim::AdamW MakeAdapterOptimizer(const models::LlamaForCausalLm& model,
                                         const OptimizerSpec& spec) {
  std::vector<torch::Tensor> params;
  for (const auto& [name, p] : model->AdapterParameters()) params.push_back(p);
  return torch::optim::AdamW(params,
                             torch::optim::AdamWOptions(spec.lr).weight_decay(spec.weight_decay));
}

torch::Tensor LlmTrainStep(const TokenForward& forward, torch::optim::AdamW& optimizer,
                           const torch::Tensor& batch, const std::function<void()>& before_update) {
  const std::int64_t t = batch.size(1) - 1;
  const torch::Tensor inputs = batch.narrow(1, 0, t);
  const torch::Tensor targets = batch.narrow(1, 1, t);
  optimizer.zero_grad();
  const torch::Tensor logits = forward(inputs);
  torch::Tensor loss = torch::nn::functional::cross_entropy(
      logits.to(torch::kFloat32).reshape({-1, logits.size(-1)}), targets.reshape({-1}));
  loss.backward();
  if (before_update) before_update();
  optimizer.step();
  return loss.detach();
}

Generation Generate(models::LlamaForCausalLm& model, models::KvCache& cache,
                    const torch::Tensor& prompt, std::int64_t new_tokens,
                    const std::function<void()>& sync) {
  cache.length = 0;
  Generation g;
  std::vector<torch::Tensor> out;
  out.reserve(static_cast<std::size_t>(new_tokens));
  const torch::Tensor logits = model->forward(prompt, cache);
  g.prompt_last_logits = logits.select(1, logits.size(1) - 1);
  torch::Tensor next = g.prompt_last_logits.argmax(-1, /*keepdim=*/true);
  sync();
  g.t_first_token = MonotonicNs();
  out.push_back(next);
  for (std::int64_t i = 1; i < new_tokens; ++i) {
    next = model->forward(next, cache).select(1, 0).argmax(-1, /*keepdim=*/true);
    out.push_back(next);
  }
  g.tokens = torch::cat(out, 1);
  return g;
}

}  // namespace fwbench
