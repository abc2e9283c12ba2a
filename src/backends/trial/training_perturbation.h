#pragma once
// Deliberate, controlled changes to a LibTorch training run, for the parity gate
// (docs/parity.md): the rounding probe that measures how much the reference's own training
// amplifies a rounding-level difference, and the faults (`fwbench trial --fault NAME`) the gate
// must catch — or, for the rounding-only ones, must let pass.
#include <cstdint>
#include <optional>
#include <string>

#include <ATen/core/Generator.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include "core/trial_spec.h"

namespace fwbench {

// Moves every element of `t` one ulp up or down (nextafter), the direction drawn from `gen`:
// the smallest change a float can make, what a different rounding of the same sum does.
void NudgeByOneUlp(torch::Tensor& t, at::Generator& gen);

// What a trial does differently from the plain reference. Built from the spec's rounding_probe
// seed and a fault name (TrainingFaults() in libtorch_trial.h; empty for none).
//
// Rounding probe k: the reference computed with other rounding, in the two places a correct
// implementation rounds differently — every batch rolled by k samples (each reduction over the
// batch, BatchNorm statistics, weight gradients, the mean loss, adds in another order) and every
// gradient moved by one ulp before the update. Its random directions come from a stream of its
// own, so a probe never repeats the gradient-ulp fault's directions whatever the seeds.
//
// Probe kKernelProbe also computes with other kernels: oneDNN off, so convolutions run on
// LibTorch's native im2col + BLAS path (the orchestrator also gives it another thread count).
// Another framework's convolutions are other kernels, and their rounding starts larger than a
// one-ulp nudge: PyTorch itself with oneDNN off left the envelope of the nudging probes at step
// 3 (1.3e-3 against an allowed 5.2e-5, quick plan), a rounding-only backend flagged.
inline constexpr std::uint64_t kKernelProbe = 3;

class TrainingPerturbation {
 public:
  // Throws UsageError for an unknown fault name.
  TrainingPerturbation(std::uint64_t probe_seed, const std::string& fault, std::uint64_t seed);

  bool active() const { return probe_.has_value() || !fault_.empty(); }
  // Probe kKernelProbe and the onednn-off fault: the trial turns oneDNN off before it builds
  // anything.
  bool UsesOtherKernels() const { return probe_number_ == kKernelProbe || fault_ == "onednn-off"; }
  // The optimiser the trial builds (lr, momentum, weight decay faults).
  OptimizerSpec Optimizer(OptimizerSpec plan) const;
  // After the weights are loaded and the model set to training (noise, BatchNorm faults).
  void PrepareModel(torch::nn::Module& model);
  // The batch a step trains on (label and order faults); may replace both tensors.
  void AdjustBatch(torch::Tensor& images, torch::Tensor& labels, std::int64_t num_classes) const;
  // Between backward and the optimiser's update: the probe and the gradient-ulp fault move every
  // gradient of a trainable parameter by one ulp.
  void BeforeUpdate(torch::nn::Module& model);

 private:
  std::optional<at::Generator> probe_;
  std::uint64_t probe_number_ = 0;
  std::int64_t probe_roll_ = 0;  // the probe rolls every batch by this many samples
  std::string fault_;
  at::Generator fault_gen_;
};

}  // namespace fwbench
