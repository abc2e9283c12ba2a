#pragma once
// What every LibTorch trial runner shares: timed phases, the device, the step budget, peak
// memory, the parity output file, autocast for bf16 training, deliberate weight noise.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "core/clock.h"
#include "core/protocol.h"
#include "core/trial_spec.h"

namespace fwbench {

// Times a phase and reports it as a protocol event.
template <typename F>
auto TimedPhase(protocol::EventWriter& events, const char* name, F&& body) {
  const std::int64_t t0 = MonotonicNs();
  if constexpr (std::is_void_v<decltype(body())>) {
    body();
    events.WritePhase(name, t0, MonotonicNs());
  } else {
    auto result = body();
    events.WritePhase(name, t0, MonotonicNs());
    return result;
  }
}

// Writes the LibTorch backends' hello event: framework, version, backend, mode, device, threads,
// and `extra` (plus perturb_weights when the weights are deliberately perturbed). An input
// pipeline's loader threads (data/pipeline_loader.h) are a pool of their own, `loader_workers`.
void WriteLibtorchHello(protocol::EventWriter& events, const TrialSpec& spec,
                        std::int64_t t_main_ns, nlohmann::json extra, double perturb_weights,
                        int loader_workers = 0);

// The "init" phase of a LibTorch trial: thread count, seed, device. Returns the device.
torch::Device InitPhase(protocol::EventWriter& events, const TrialSpec& spec);

// "cpu" or "cuda" (UsageError when this LibTorch has no CUDA device, or for anything else).
torch::Device ResolveDevice(const std::string& device);
void Synchronize(const torch::Device& device);
std::int64_t PeakRssBytes();

// docs/protocol.md: keep stepping while steps < min_steps or seconds < min_seconds, within
// max_steps and max_seconds.
bool BudgetLeft(const TrialBudget& budget, std::int64_t steps, double elapsed_s);

// What one timed step hands back: its loss (training; undefined for inference), read after the
// timed region, and for token workloads what it trained on or generated.
struct StepResult {
  torch::Tensor loss;
  std::optional<protocol::EventWriter::Tokens> tokens;
  // What the step computed, released after the timed region (as the loss is), not inside it.
  std::vector<torch::Tensor> outputs;
};

// The step loop of every LibTorch trial (image and LLM, train and infer): while the budget
// lasts, `prepare(step)` makes the step's batch outside the timed region (it is the same work
// for every backend), then `run(batch)` is timed between two device synchronisations and
// written as a step event of `samples` samples. Returns the number of steps.
template <typename Prepare, typename Run>
std::int64_t RunTimedSteps(protocol::EventWriter& events, const TrialBudget& budget,
                           const torch::Device& device, std::int64_t samples, Prepare&& prepare,
                           Run&& run) {
  std::int64_t steps = 0;
  std::int64_t first_t0 = 0;
  for (;;) {
    const double elapsed_s =
        steps == 0 ? 0.0 : static_cast<double>(MonotonicNs() - first_t0) * 1e-9;
    if (!BudgetLeft(budget, steps, elapsed_s)) break;
    auto batch = prepare(steps);
    Synchronize(device);
    const std::int64_t t0 = MonotonicNs();
    if (steps == 0) first_t0 = t0;
    const StepResult result = run(batch);
    Synchronize(device);
    const std::int64_t t1 = MonotonicNs();
    const std::optional<double> loss =
        result.loss.defined() ? std::optional<double>(result.loss.item<double>()) : std::nullopt;
    if (result.tokens) {
      events.WriteStep(steps, t0, t1, samples, loss, *result.tokens);
    } else {
      events.WriteStep(steps, t0, t1, samples, loss);
    }
    ++steps;
  }
  return steps;
}

// logits.safetensors for the parity gate: "logits" and the "inputs" they came from, both fp32.
void WriteParityOutput(const torch::Tensor& inputs, const torch::Tensor& logits,
                       const std::filesystem::path& path);

// Adds N(0, scale²) noise to every floating-point parameter (the parity gate's fault test).
void PerturbWeights(torch::nn::Module& model, double scale);

// Enables autocast for the duration of a bf16 training step, as torch.autocast would.
class AutocastScope {
 public:
  AutocastScope(bool enabled, const torch::Device& device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool enabled_;
  bool cuda_;
};

}  // namespace fwbench
