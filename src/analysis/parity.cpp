#include "analysis/parity.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "core/error.h"
#include "data/safetensors.h"

namespace fwbench::parity {

Tolerance ToleranceFor(const std::string& precision) {
  // Calibration and reasoning: docs/parity.md.
  if (precision == "fp32") {
    return {.logits_atol = 1e-4,
            .logits_rtol = 1e-4,
            .min_top1_agreement = 1.0,
            .loss_atol = 1e-4,
            .loss_rtol = 1e-3,
            .losses_compared = 20};
  }
  if (precision == "bf16") {
    return {.logits_atol = 0.1,
            .logits_rtol = 0.05,
            .min_top1_agreement = 0.75,
            .loss_atol = 0.02,
            .loss_rtol = 0.05,
            .losses_compared = 20};
  }
  throw std::invalid_argument(fmt::format("no parity tolerance for precision '{}'", precision));
}

namespace {

std::vector<float> ReadF32(const safetensors::File& file, const safetensors::TensorInfo& info) {
  if (info.dtype != safetensors::DType::kF32) {
    throw UsageError(
        fmt::format("{}: tensor \"{}\" is {}, expected F32 (docs/protocol.md, parity "
                    "output)",
                    file.path().string(), info.name, safetensors::DTypeName(info.dtype)));
  }
  std::vector<float> values(static_cast<std::size_t>(info.num_elements()));
  const auto bytes = file.Bytes(info);
  std::memcpy(values.data(), bytes.data(), bytes.size());
  return values;
}

}  // namespace

Output ReadOutput(const std::filesystem::path& path) {
  const safetensors::File file = safetensors::File::Read(path);
  const safetensors::TensorInfo* logits = file.Find("logits");
  if (logits == nullptr) {
    throw UsageError(fmt::format(
        "{}: no tensor \"logits\" (a parity output holds \"logits\" [rows, classes] and "
        "\"inputs\"; docs/protocol.md)",
        path.string()));
  }
  if (logits->shape.size() != 2 || logits->shape[0] < 1 || logits->shape[1] < 1) {
    throw UsageError(fmt::format("{}: \"logits\" must have shape [rows, classes], not {} dims",
                                 path.string(), logits->shape.size()));
  }
  Output out;
  out.rows = logits->shape[0];
  out.classes = logits->shape[1];
  out.logits = ReadF32(file, *logits);
  if (const safetensors::TensorInfo* inputs = file.Find("inputs")) {
    if (inputs->shape.empty() || inputs->shape[0] != out.rows) {
      throw UsageError(
          fmt::format("{}: \"inputs\" must have {} rows like \"logits\"", path.string(), out.rows));
    }
    out.input_shape = inputs->shape;
    out.inputs = ReadF32(file, *inputs);
  }
  return out;
}

LogitsComparison CompareLogits(const Output& reference, const Output& got, const Tolerance& tol) {
  LogitsComparison c;
  c.rows = got.rows;
  if (got.classes != reference.classes || got.rows != reference.rows) {
    c.problem = fmt::format("logits have shape [{}, {}], the reference [{}, {}]", got.rows,
                            got.classes, reference.rows, reference.classes);
    return c;
  }
  if (!got.inputs.empty() && !reference.inputs.empty()) {
    c.inputs_compared = true;
    if (got.inputs.size() != reference.inputs.size()) {
      c.problem = "the inputs have a different shape from the reference's: not the same batch";
      return c;
    }
    for (std::size_t i = 0; i < got.inputs.size(); ++i) {
      const double d = std::abs(static_cast<double>(got.inputs[i]) - reference.inputs[i]);
      c.inputs_max_abs = std::max(c.inputs_max_abs, std::isnan(d) ? INFINITY : d);
    }
  }
  double ref_scale = 0.0;
  bool within = true;
  for (std::size_t i = 0; i < got.logits.size(); ++i) {
    const double r = reference.logits[i];
    const double g = got.logits[i];
    const double d = std::isfinite(g) ? std::abs(g - r) : INFINITY;
    ref_scale = std::max(ref_scale, std::abs(r));
    c.max_abs = std::max(c.max_abs, d);
    if (!(d <= tol.logits_atol + tol.logits_rtol * std::abs(r))) within = false;
  }
  c.max_rel = ref_scale > 0 ? c.max_abs / ref_scale : (c.max_abs > 0 ? INFINITY : 0.0);
  std::int64_t agree = 0;
  for (std::int64_t row = 0; row < got.rows; ++row) {
    const auto begin = static_cast<std::size_t>(row * got.classes);
    const auto end = begin + static_cast<std::size_t>(got.classes);
    const auto argmax = [&](const std::vector<float>& v) {
      return std::max_element(v.begin() + static_cast<std::ptrdiff_t>(begin),
                              v.begin() + static_cast<std::ptrdiff_t>(end)) -
             v.begin();
    };
    // Where every row must agree (fp32), a different arg-max counts only where the reference
    // tells the two apart by more than both outputs' elementwise tolerances: between outputs that
    // close (a regression output, an untrained model's near-equal logits) rounding alone picks
    // either, and that is not a different function. bf16 keeps its 75% of plain agreement.
    const auto mine = argmax(got.logits);
    const auto theirs = argmax(reference.logits);
    const double top = reference.logits[static_cast<std::size_t>(theirs)];
    const double other = reference.logits[static_cast<std::size_t>(mine)];
    const bool near_tie =
        tol.min_top1_agreement >= 1.0 &&
        top - other <= 2 * tol.logits_atol + tol.logits_rtol * (std::abs(top) + std::abs(other));
    agree += mine == theirs || near_tie ? 1 : 0;
  }
  c.top1_agreement = static_cast<double>(agree) / static_cast<double>(got.rows);

  // The inputs are checked first: a mismatch there is a data pipeline bug, not a model one.
  if (c.inputs_compared && c.inputs_max_abs > 1e-5) {
    c.problem = fmt::format(
        "the parity batch differs from the reference's inputs (max |Δ| {:.3g}): the backend "
        "preprocesses the data differently",
        c.inputs_max_abs);
  } else if (!within) {
    c.problem = fmt::format(
        "logits differ by up to {:.3g} (max |Δ|/max |ref| = {:.3g}); allowed "
        "{:g} + {:g}·|ref|",
        c.max_abs, c.max_rel, tol.logits_atol, tol.logits_rtol);
  } else if (c.top1_agreement < tol.min_top1_agreement) {
    c.problem = fmt::format("top-1 class agrees on {:.0f}% of the batch, {:.0f}% required",
                            100 * c.top1_agreement, 100 * tol.min_top1_agreement);
  }
  c.pass = c.problem.empty();
  return c;
}

namespace {
// Calibration: docs/parity.md, "The rounding envelope".
constexpr double kEnvelopeMargin = 10.0;
constexpr double kEnvelopeFloorRtol = 1e-6;
constexpr double kEnvelopeSaturation = 0.1;
}  // namespace

double LossEnvelope::Allowed(std::size_t step, double ref) const {
  double d = divergence.at(step);
  // Half a step of timing slack after step 0: rounding grows by jumps, and another rounding
  // pattern's jump can come earlier than the probes' (torch.compile and Keras on JAX reached 1.3×
  // the plain step-1 band, then stayed under 0.41 of it; docs/parity.md). Step 0 is the forward
  // pass alone and keeps its own band.
  if (step > 0 && step + 1 < divergence.size()) d = std::sqrt(d * divergence[step + 1]);
  return std::max(floor_rtol * std::abs(ref), margin * d);
}

LossEnvelope MeasureLossEnvelope(const std::vector<double>& reference,
                                 const std::vector<std::vector<double>>& probes,
                                 std::size_t steps) {
  if (probes.empty()) throw std::invalid_argument("no rounding probe to measure an envelope from");
  if (reference.size() < steps) {
    throw std::invalid_argument(
        fmt::format("the reference has {} losses, the envelope needs {}", reference.size(), steps));
  }
  LossEnvelope e;
  e.probes = probes.size();
  e.margin = kEnvelopeMargin;
  e.floor_rtol = kEnvelopeFloorRtol;
  e.saturation = kEnvelopeSaturation;
  e.divergence.assign(steps, 0.0);
  e.reference.assign(reference.begin(), reference.begin() + static_cast<std::ptrdiff_t>(steps));
  for (const std::vector<double>& probe : probes) {
    if (probe.size() < steps) {
      throw std::invalid_argument(fmt::format(
          "a rounding probe has {} losses, the envelope needs {}", probe.size(), steps));
    }
  }
  double running = 0.0;
  for (std::size_t i = 0; i < steps; ++i) {
    for (const std::vector<double>& probe : probes) {
      const double d = std::isfinite(probe[i]) ? std::abs(probe[i] - reference[i]) : INFINITY;
      running = std::max(running, d);
    }
    e.divergence[i] = running;
    if (e.saturated_from == LossEnvelope::npos &&
        !(running <= e.saturation * std::abs(reference[i]))) {
      e.saturated_from = i;
    }
  }
  return e;
}

LossComparison CompareLosses(const std::vector<double>& reference, const std::vector<double>& got,
                             const Tolerance& tol, const LossEnvelope* envelope) {
  LossComparison c;
  c.compared = std::min({reference.size(), got.size(), tol.losses_compared});
  if (c.compared < tol.losses_compared) {
    c.problem = fmt::format(
        "only {} losses to compare ({} required): run at least {} training "
        "steps",
        c.compared, tol.losses_compared, tol.losses_compared);
    return c;
  }
  if (envelope != nullptr && envelope->divergence.size() < c.compared) {
    throw std::invalid_argument(fmt::format("the envelope covers {} steps, {} are compared",
                                            envelope->divergence.size(), c.compared));
  }
  c.envelope_used = envelope != nullptr;
  c.informative_steps =
      c.envelope_used ? std::min(c.compared, envelope->saturated_from) : c.compared;
  bool within = true;
  double bad_delta = 0.0;
  double bad_allowed = 0.0;
  for (std::size_t i = 0; i < c.compared; ++i) {
    const double d = std::isfinite(got[i]) ? std::abs(got[i] - reference[i]) : INFINITY;
    c.deltas.push_back(d);
    c.max_abs = std::max(c.max_abs, d);
    if (reference[i] != 0) c.max_rel = std::max(c.max_rel, d / std::abs(reference[i]));
    if (i >= c.informative_steps && std::isfinite(d)) continue;  // saturated: no evidence
    const double allowed = c.envelope_used ? envelope->Allowed(i, reference[i])
                                           : tol.loss_atol + tol.loss_rtol * std::abs(reference[i]);
    const double fraction = allowed > 0 ? d / allowed : (d > 0 ? INFINITY : 0.0);
    if (!(fraction <= c.worst_band_fraction)) {
      c.worst_band_fraction = fraction;
      c.worst_step = i;
    }
    if (within && !(d <= allowed)) {
      within = false;
      c.first_bad_step = i;
      bad_delta = d;
      bad_allowed = allowed;
    }
  }
  if (!within && c.envelope_used) {
    c.problem = fmt::format(
        "training losses leave the rounding envelope at step {}: |Δ| {:.3g}, allowed {:.3g} "
        "({:g} × the reference's own divergence when every update is rounded differently, at "
        "least {:g}·|ref|); max |Δ| {:.3g} over the first {}",
        c.first_bad_step, bad_delta, bad_allowed, envelope->margin, envelope->floor_rtol, c.max_abs,
        c.compared);
  } else if (!within) {
    c.problem = fmt::format(
        "training losses diverge from the reference at step {} (max |Δ| {:.3g} over the first "
        "{}); allowed {:g} + {:g}·|ref|",
        c.first_bad_step, c.max_abs, c.compared, tol.loss_atol, tol.loss_rtol);
  } else if (c.informative_steps < kMinInformativeSteps) {
    c.inconclusive = true;
    c.problem = fmt::format(
        "the reference's training amplifies rounding beyond {:g}% of the loss from step {}: a "
        "one-ulp difference per update moves its loss by {:.3g} there, so the losses cannot tell "
        "rounding from a different function; lower train.lr (docs/parity.md)",
        100 * envelope->saturation, envelope->saturated_from,
        envelope->divergence[envelope->saturated_from]);
  }
  c.pass = c.problem.empty();
  return c;
}

nlohmann::json ToJson(const Tolerance& t) {
  return {{"logits_atol", t.logits_atol},
          {"logits_rtol", t.logits_rtol},
          {"min_top1_agreement", t.min_top1_agreement},
          {"loss_atol", t.loss_atol},
          {"loss_rtol", t.loss_rtol},
          {"losses_compared", t.losses_compared}};
}

namespace {
// JSON has no infinity; a non-finite error is reported as null with the failure in "problem".
nlohmann::json Finite(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }
}  // namespace

nlohmann::json ToJson(const LogitsComparison& c) {
  nlohmann::json j = {{"pass", c.pass},
                      {"max_abs", Finite(c.max_abs)},
                      {"max_rel", Finite(c.max_rel)},
                      {"top1_agreement", c.top1_agreement},
                      {"rows", c.rows}};
  if (c.inputs_compared) j["inputs_max_abs"] = Finite(c.inputs_max_abs);
  if (!c.problem.empty()) j["problem"] = c.problem;
  return j;
}

nlohmann::json ToJson(const LossComparison& c) {
  nlohmann::json j = {{"pass", c.pass},
                      {"compared", c.compared},
                      {"max_abs", Finite(c.max_abs)},
                      {"max_rel", Finite(c.max_rel)},
                      {"band", c.envelope_used ? "rounding envelope" : "fixed tolerance"},
                      {"worst_band_fraction", Finite(c.worst_band_fraction)},
                      {"worst_step", c.worst_step},
                      {"informative_steps", c.informative_steps}};
  if (!c.pass && !c.inconclusive) j["first_bad_step"] = c.first_bad_step;
  nlohmann::json deltas = nlohmann::json::array();
  for (double d : c.deltas) deltas.push_back(Finite(d));
  j["deltas"] = deltas;
  if (c.inconclusive) j["inconclusive"] = true;
  if (!c.problem.empty()) j["problem"] = c.problem;
  return j;
}

nlohmann::json ToJson(const LossEnvelope& e) {
  nlohmann::json divergence = nlohmann::json::array();
  nlohmann::json allowed = nlohmann::json::array();
  for (std::size_t i = 0; i < e.divergence.size(); ++i) {
    divergence.push_back(Finite(e.divergence[i]));
    allowed.push_back(Finite(e.Allowed(i, e.reference.at(i))));
  }
  nlohmann::json j = {{"probes", e.probes},
                      {"probe",
                       "every trainable parameter moved one ulp (random direction) "
                       "before the first step and after every update"},
                      {"margin", e.margin},
                      {"floor_rtol", e.floor_rtol},
                      {"saturation", e.saturation},
                      {"reference_losses", e.reference},
                      {"divergence", divergence},
                      {"allowed", allowed}};
  j["saturated_from"] =
      e.saturated_from == LossEnvelope::npos ? nlohmann::json() : nlohmann::json(e.saturated_from);
  return j;
}

}  // namespace fwbench::parity
