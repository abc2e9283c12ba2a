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

struct LossComparison {
  bool pass = false;
  std::string problem;
  std::size_t compared = 0;
  double max_abs = 0.0;
  double max_rel = 0.0;            // max over steps of |got - ref| / |ref|
  std::size_t first_bad_step = 0;  // meaningful when !pass and compared > 0
};
LossComparison CompareLosses(const std::vector<double>& reference, const std::vector<double>& got,
                             const Tolerance& tol);

nlohmann::json ToJson(const Tolerance& tol);
nlohmann::json ToJson(const LogitsComparison& c);
nlohmann::json ToJson(const LossComparison& c);

}  // namespace fwbench::parity
