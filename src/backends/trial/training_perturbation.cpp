#include "backends/trial/training_perturbation.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include <limits>

#include "backends/trial/libtorch_trial.h"
#include "core/error.h"

namespace fwbench {

namespace {

// The layers the named faults touch; every ResNet arch has them (layer4 has ≥ 2 blocks).
constexpr const char* kBatchNormInEval = "layer4.1.bn2";
constexpr const char* kNoisyLayer = "layer3.0.conv1.weight";
constexpr double kLayerNoise = 1e-3;
constexpr double kLrScale = 1.1;
constexpr double kExtraWeightDecay = 5e-4;
// Separate random streams for the probe and the faults (SplitMix64 of a tagged seed).
constexpr std::uint64_t kProbeStream = 0x70726f6265ULL;  // "probe"
constexpr std::uint64_t kFaultStream = 0x6661756c74ULL;  // "fault"

std::uint64_t SplitMix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The parameters that train.
template <typename F>
void ForEachTrainable(torch::nn::Module& model, F&& f) {
  for (torch::Tensor& p : model.parameters()) {
    if (p.requires_grad() && p.is_floating_point()) f(p);
  }
}

}  // namespace

void NudgeByOneUlp(torch::Tensor& t, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  const double inf = std::numeric_limits<double>::infinity();
  // Drawn on the CPU so that the directions do not depend on the device: +inf or -inf each.
  const torch::Tensor toward =
      ((torch::rand(t.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat32)) < 0.5)
               .to(t.dtype()) *
           2 -
       1) *
      inf;
  t.copy_(torch::nextafter(t, toward.to(t.device())));
}

TrainingPerturbation::TrainingPerturbation(std::uint64_t probe_seed, const std::string& fault,
                                           std::uint64_t seed)
    : fault_(fault),
      fault_gen_(at::make_generator<at::CPUGeneratorImpl>(SplitMix64(seed ^ kFaultStream))) {
  if (!fault.empty()) TrainingFaultNamed(fault);
  if (probe_seed != 0) {
    probe_ = at::make_generator<at::CPUGeneratorImpl>(SplitMix64(probe_seed ^ kProbeStream));
    probe_roll_ = static_cast<std::int64_t>(probe_seed % 1024);
    probe_number_ = probe_seed;
  }
}

OptimizerSpec TrainingPerturbation::Optimizer(OptimizerSpec plan) const {
  if (fault_ == "lr-1.1") plan.lr *= kLrScale;
  if (fault_ == "momentum-0") plan.momentum = 0.0;
  if (fault_ == "weight-decay-on") plan.weight_decay += kExtraWeightDecay;
  return plan;
}

void TrainingPerturbation::PrepareModel(torch::nn::Module& model) {
  if (fault_ == "bn-eval") {
    for (const auto& m : model.named_modules()) {
      if (m.key() == kBatchNormInEval) {
        m.value()->eval();
        return;
      }
    }
    throw UsageError(fmt::format("--fault bn-eval: the model has no module {}", kBatchNormInEval));
  }
  if (fault_ == "layer-noise") {
    torch::NoGradGuard no_grad;
    for (auto& p : model.named_parameters()) {
      if (p.key() == kNoisyLayer) {
        torch::Tensor& w = p.value();
        w.add_(torch::randn(w.sizes(), fault_gen_, torch::TensorOptions().dtype(w.dtype()))
                   .to(w.device()) *
               kLayerNoise);
        return;
      }
    }
    throw UsageError(
        fmt::format("--fault layer-noise: the model has no parameter {}", kNoisyLayer));
  }
}

void TrainingPerturbation::AdjustBatch(torch::Tensor& images, torch::Tensor& labels,
                                       std::int64_t num_classes) const {
  const auto reorder = [&](const torch::Tensor& order) {
    images = images.index_select(0, order).contiguous(images.suggest_memory_format());
    labels = labels.index_select(0, order);
  };
  const std::int64_t n = labels.size(0);
  if (probe_roll_ % n != 0) {
    // The same samples, rolled: every reduction over the batch adds in another order.
    reorder((torch::arange(n, torch::kLong) + probe_roll_).remainder(n).to(labels.device()));
  }
  if (fault_ == "labels-shifted") labels = (labels + 1).remainder(num_classes);
  if (fault_ == "batch-reversed")
    reorder(torch::arange(n - 1, -1, -1, torch::kLong).to(labels.device()));
}

void TrainingPerturbation::BeforeUpdate(torch::nn::Module& model) {
  at::Generator* gen = probe_ ? &*probe_ : fault_ == "gradient-ulp" ? &fault_gen_ : nullptr;
  if (gen == nullptr) return;
  ForEachTrainable(model, [&](torch::Tensor& p) {
    if (p.grad().defined()) {
      torch::Tensor g = p.grad();
      NudgeByOneUlp(g, *gen);
    }
  });
}

}  // namespace fwbench
