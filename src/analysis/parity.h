#pragma once
// The parity gate: does a configuration compute the same function as the reference (libtorch
// eager, fp32, contiguous)? Inference compares the logits of a fixed batch, training the first
// losses from identical weights and batches. Tolerances depend on precision; docs/parity.md
// gives them and the reasoning. A configuration that fails is flagged and never ranked.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fwbench::parity {

struct Tolerance {
  // Elementwise, like numpy.allclose: |got - ref| <= atol + rtol * |ref|.
  double logits_atol = 0.0;
  double logits_rtol = 0.0;
  double min_top1_agreement = 1.0;  // fraction of rows whose arg-max class agrees
  double loss_atol = 0.0;
  double loss_rtol = 0.0;
  std::size_t losses_compared = 20;  // the first N training losses
};

// The tolerance for a configuration running at `precision` ("fp32", "bf16"); the reference is
// always fp32. Throws std::invalid_argument for an unknown precision.
Tolerance ToleranceFor(const std::string& precision);

// The parity output a trial writes (docs/protocol.md): logits [rows, classes] and the inputs
// [rows, …] they came from, both F32.
struct Output {
  std::int64_t rows = 0;
  std::int64_t classes = 0;
  std::vector<float> logits;
  std::vector<std::int64_t> input_shape;
  std::vector<float> inputs;  // empty when the worker did not write them
};
// Throws fwbench::UsageError naming the file and what is wrong (missing tensor, wrong dtype or
// rank, non-finite values are allowed and reported by the comparison instead).
Output ReadOutput(const std::filesystem::path& path);

struct LogitsComparison {
  bool pass = false;
  std::string problem;  // why it failed, in words; empty on pass
  double max_abs = 0.0;
  double max_rel = 0.0;  // max |got - ref| / max |ref|: error relative to the logits' scale
  double top1_agreement = 0.0;
  std::int64_t rows = 0;
  bool inputs_compared = false;
  double inputs_max_abs = 0.0;
};
LogitsComparison CompareLogits(const Output& reference, const Output& got, const Tolerance& tol);

// The envelope of legitimate training differences, measured in the run itself: how far the
// reference's own losses move when every update is rounded differently (the rounding probes,
// orchestrate/run_plan.h). A training run amplifies a one-ulp difference by its own chaos, so a
// fixed band cannot tell rounding from a different function; this band grows exactly as the
// run's sensitivity does. docs/parity.md gives the rule and its calibration.
struct LossEnvelope {
  // Per step i: the largest |probe - reference| over every probe and every step <= i (once
  // rounding has moved a run that far, it can legitimately stay there).
  std::vector<double> divergence;
  std::size_t probes = 0;
  double margin = 0.0;      // a backend may diverge this many times the probes' divergence
  double floor_rtol = 0.0;  // and always by this much × |ref| (the loss's own rounding)
  // First step whose divergence exceeds saturation × |ref|: from there on the probes have
  // decorrelated from the reference and losses no longer tell rounding from a different function.
  // npos when it never happens within the compared steps.
  std::size_t saturated_from = npos;
  double saturation = 0.0;
  std::vector<double> reference;  // the reference's losses the envelope surrounds

  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  // The band at step i around a reference loss `ref`: margin × the divergence (from step 1 on,
  // the geometric mean of steps i and i+1), at least floor_rtol × |ref|.
  double Allowed(std::size_t step, double ref) const;
};

// The envelope for fp32 training: margin 10, floor 1e-6·|ref|, saturation at 10% of the loss.
// Throws std::invalid_argument when there is no probe or a probe has fewer than `steps` losses.
LossEnvelope MeasureLossEnvelope(const std::vector<double>& reference,
                                 const std::vector<std::vector<double>>& probes, std::size_t steps);

// Fewer informative (unsaturated) steps than this and the losses cannot decide parity.
inline constexpr std::size_t kMinInformativeSteps = 5;

struct LossComparison {
  bool pass = false;
  // True when the envelope saturated too early to decide: neither pass nor fail ("unchecked").
  bool inconclusive = false;
  std::string problem;
  std::size_t compared = 0;
  double max_abs = 0.0;
  double max_rel = 0.0;            // max over steps of |got - ref| / |ref|
  std::size_t first_bad_step = 0;  // meaningful when !pass and compared > 0
  // With an envelope: the largest |got - ref| / allowed over the informative steps (≤ 1 passes),
  // and the step where it happens.
  bool envelope_used = false;
  double worst_band_fraction = 0.0;
  std::size_t worst_step = 0;
  std::size_t informative_steps = 0;
  std::vector<double> deltas;  // |got - ref| per compared step
};
// Without an envelope (none measured, or a non-fp32 precision): the fixed band of `tol`. With
// one: step i passes when |got - ref| <= envelope.Allowed(i, ref), over the steps before the
// envelope saturates.
LossComparison CompareLosses(const std::vector<double>& reference, const std::vector<double>& got,
                             const Tolerance& tol, const LossEnvelope* envelope = nullptr);

nlohmann::json ToJson(const Tolerance& tol);
nlohmann::json ToJson(const LogitsComparison& c);
nlohmann::json ToJson(const LossComparison& c);
nlohmann::json ToJson(const LossEnvelope& e);

}  // namespace fwbench::parity
