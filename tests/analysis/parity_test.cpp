#include "analysis/parity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "data/safetensors.h"

namespace fwbench::parity {
namespace {

Output MakeOutput(std::vector<float> logits, std::int64_t classes, std::vector<float> inputs = {}) {
  Output o;
  o.classes = classes;
  o.rows = static_cast<std::int64_t>(logits.size()) / classes;
  o.logits = std::move(logits);
  o.inputs = std::move(inputs);
  if (!o.inputs.empty())
    o.input_shape = {o.rows, static_cast<std::int64_t>(o.inputs.size()) / o.rows};
  return o;
}

TEST(ParityTest, IdenticalLogitsPass) {
  const Output ref = MakeOutput({1.0f, 2.0f, 3.0f, -1.0f, 0.5f, 0.25f}, 3, {0.1f, 0.2f});
  const LogitsComparison c = CompareLogits(ref, ref, ToleranceFor("fp32"));
  EXPECT_TRUE(c.pass) << c.problem;
  EXPECT_EQ(c.max_abs, 0.0);
  EXPECT_EQ(c.top1_agreement, 1.0);
  EXPECT_TRUE(c.inputs_compared);
}

TEST(ParityTest, Fp32ToleranceIsTightAndReportsTheError) {
  const Output ref = MakeOutput({1.0f, 2.0f, 3.0f, -1.0f, 0.5f, 0.25f}, 3);
  Output close = ref;
  close.logits[2] += 5e-5f;  // within 1e-4 + 1e-4 * 3
  EXPECT_TRUE(CompareLogits(ref, close, ToleranceFor("fp32")).pass);
  Output off = ref;
  off.logits[0] += 2e-3f;
  const LogitsComparison c = CompareLogits(ref, off, ToleranceFor("fp32"));
  EXPECT_FALSE(c.pass);
  EXPECT_NEAR(c.max_abs, 2e-3, 1e-6);
  EXPECT_NEAR(c.max_rel, 2e-3 / 3.0, 1e-6);
  EXPECT_NE(c.problem.find("logits differ"), std::string::npos) << c.problem;
  // bf16 allows this much.
  EXPECT_TRUE(CompareLogits(ref, off, ToleranceFor("bf16")).pass);
}

TEST(ParityTest, TopOneDisagreementFailsEvenWithinBf16Tolerance) {
  const Output ref =
      MakeOutput({1.0f, 1.01f, 0.0f, 2.0f, 0.0f, 0.0f, 0.0f, 0.0f, 3.0f, 5.0f, 0.0f, 0.0f}, 3);
  Output swapped = ref;
  std::swap(swapped.logits[0], swapped.logits[1]);  // row 0 now picks class 0
  std::swap(swapped.logits[3], swapped.logits[4]);  // row 1 now picks class 1, far off
  Tolerance loose = ToleranceFor("bf16");
  loose.logits_atol = 10;  // only the top-1 rule can fail
  const LogitsComparison c = CompareLogits(ref, swapped, loose);
  EXPECT_FALSE(c.pass);
  EXPECT_DOUBLE_EQ(c.top1_agreement, 0.5);
  EXPECT_NE(c.problem.find("top-1"), std::string::npos) << c.problem;
}

// fp32: outputs within the elementwise tolerance whose arg-max differs are a near tie (an
// untrained model's logits, a regression output), not a different function.
TEST(ParityTest, AnFp32ArgMaxFlipBetweenNearEqualOutputsIsRoundingNotADifferentFunction) {
  const Output ref = MakeOutput({0.50000f, 0.50005f, -1.0f, 2.0f, 0.0f, 0.0f}, 3);
  Output flipped = ref;
  flipped.logits[0] = 0.50006f;  // row 0 now picks class 0, 6e-5 away: within 1e-4 + 1e-4·|ref|
  const LogitsComparison c = CompareLogits(ref, flipped, ToleranceFor("fp32"));
  EXPECT_TRUE(c.pass) << c.problem;
  EXPECT_DOUBLE_EQ(c.top1_agreement, 1.0);
  // A flip between outputs the reference tells apart is not forgiven.
  Output far = ref;
  far.logits[3] = 0.0f;
  far.logits[4] = 2.0f;  // row 1: 2.0 apart in the reference, beyond 2·1e-4 + 1e-4·2.0
  const LogitsComparison d = CompareLogits(ref, far, ToleranceFor("fp32"));
  EXPECT_FALSE(d.pass);
  EXPECT_DOUBLE_EQ(d.top1_agreement, 0.5);
}

TEST(ParityTest, DifferentInputsAreBlamedOnTheData) {
  const Output ref = MakeOutput({1.0f, 2.0f}, 2, {0.1f, 0.2f});
  const Output got = MakeOutput({1.0f, 2.0f}, 2, {0.1f, 0.3f});
  const LogitsComparison c = CompareLogits(ref, got, ToleranceFor("fp32"));
  EXPECT_FALSE(c.pass);
  EXPECT_NE(c.problem.find("preprocesses"), std::string::npos) << c.problem;
}

TEST(ParityTest, NanAndShapeMismatchFail) {
  const Output ref = MakeOutput({1.0f, 2.0f}, 2);
  Output nan = ref;
  nan.logits[1] = std::nanf("");
  const LogitsComparison c = CompareLogits(ref, nan, ToleranceFor("bf16"));
  EXPECT_FALSE(c.pass);
  EXPECT_TRUE(std::isinf(c.max_abs));
  EXPECT_FALSE(CompareLogits(ref, MakeOutput({1.0f, 2.0f, 3.0f}, 3), ToleranceFor("fp32")).pass);
}

TEST(ParityTest, LossesCompareTheFirstTwenty) {
  std::vector<double> ref(25), got(25);
  for (int i = 0; i < 25; ++i) ref[i] = got[i] = 2.3 - 0.01 * i;
  EXPECT_TRUE(CompareLosses(ref, got, ToleranceFor("fp32")).pass);
  got[22] += 1.0;  // past the first 20: not compared
  EXPECT_TRUE(CompareLosses(ref, got, ToleranceFor("fp32")).pass);
  got[7] += 0.01;
  const LossComparison c = CompareLosses(ref, got, ToleranceFor("fp32"));
  EXPECT_FALSE(c.pass);
  EXPECT_EQ(c.first_bad_step, 7u);
  EXPECT_EQ(c.compared, 20u);
  EXPECT_NEAR(c.max_abs, 0.01, 1e-12);
  const LossComparison few = CompareLosses({1.0, 2.0}, {1.0, 2.0}, ToleranceFor("fp32"));
  EXPECT_FALSE(few.pass);
  EXPECT_NE(few.problem.find("only 2 losses"), std::string::npos) << few.problem;
}

// A reference that falls from 2.3 and probes that leave it by `scale` × 2^i (a run that
// doubles a difference every step, as an unstable training does).
std::vector<double> Falling(std::size_t n) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = 2.3 - 0.01 * static_cast<double>(i);
  return v;
}
std::vector<double> Diverging(const std::vector<double>& ref, double scale) {
  std::vector<double> v = ref;
  for (std::size_t i = 0; i < v.size(); ++i) v[i] += scale * std::ldexp(1.0, static_cast<int>(i));
  return v;
}

TEST(ParityEnvelopeTest, IsTheRunningMaximumOverProbesAndSteps) {
  const std::vector<double> ref = {2.0, 2.0, 2.0, 2.0};
  // Probe 1 crosses back to the reference at step 2; probe 2 is the wider one at step 1.
  const LossEnvelope e = MeasureLossEnvelope(
      ref, {{2.0 + 1e-7, 2.0 - 3e-6, 2.0, 2.0 + 5e-6}, {2.0, 2.0 + 4e-6, 2.0, 2.0}}, 4);
  ASSERT_EQ(e.divergence.size(), 4u);
  EXPECT_NEAR(e.divergence[0], 1e-7, 1e-12);
  EXPECT_NEAR(e.divergence[1], 4e-6, 1e-12);
  EXPECT_NEAR(e.divergence[2], 4e-6, 1e-12);  // a crossing does not narrow the band
  EXPECT_NEAR(e.divergence[3], 5e-6, 1e-12);
  EXPECT_EQ(e.probes, 2u);
  EXPECT_EQ(e.saturated_from, LossEnvelope::npos);
  // The band: margin × divergence, never under the floor; from step 1 on, half a step of timing
  // slack (the geometric mean with the next step's divergence), the last step its own.
  EXPECT_NEAR(e.Allowed(1, 2.0), e.margin * 4e-6, 1e-12);
  EXPECT_NEAR(e.Allowed(2, 2.0), e.margin * std::sqrt(4e-6 * 5e-6), 1e-12);
  EXPECT_NEAR(e.Allowed(3, 2.0), e.margin * 5e-6, 1e-12);
  EXPECT_NEAR(e.Allowed(0, 2.0), std::max(e.margin * 1e-7, e.floor_rtol * 2.0), 1e-12);
  const nlohmann::json j = ToJson(e);
  EXPECT_EQ(j["divergence"].size(), 4u);
  EXPECT_EQ(j["allowed"].size(), 4u);
  EXPECT_TRUE(j["saturated_from"].is_null());
}

TEST(ParityEnvelopeTest, ABackendPassesInsideTheBandAndFailsWhereItLeavesIt) {
  const std::vector<double> ref = Falling(20);
  const LossEnvelope e = MeasureLossEnvelope(ref, {Diverging(ref, 1e-8)}, 20);
  // Rounding three times the probe's, amplified the same way: inside.
  const LossComparison inside = CompareLosses(ref, Diverging(ref, 3e-8), ToleranceFor("fp32"), &e);
  EXPECT_TRUE(inside.pass) << inside.problem;
  EXPECT_TRUE(inside.envelope_used);
  EXPECT_NEAR(inside.worst_band_fraction, 3.0 / e.margin, 1e-9);
  EXPECT_EQ(inside.deltas.size(), 20u);
  // A small systematic difference from step 4 on, far above the rounding there.
  std::vector<double> off = Diverging(ref, 3e-8);
  for (std::size_t i = 4; i < off.size(); ++i) off[i] += 1e-5;
  const LossComparison c = CompareLosses(ref, off, ToleranceFor("fp32"), &e);
  EXPECT_FALSE(c.pass);
  EXPECT_FALSE(c.inconclusive);
  EXPECT_EQ(c.first_bad_step, 4u);
  EXPECT_NE(c.problem.find("leave the rounding envelope at step 4"), std::string::npos)
      << c.problem;
  // The fixed band cannot see a difference this small.
  std::vector<double> small = ref;
  for (std::size_t i = 4; i < small.size(); ++i) small[i] += 1e-5;
  EXPECT_TRUE(CompareLosses(ref, small, ToleranceFor("fp32")).pass);
  EXPECT_FALSE(CompareLosses(ref, small, ToleranceFor("fp32"), &e).pass);
}

TEST(ParityEnvelopeTest, TheFloorCoversAProbeThatChangedNothing) {
  const std::vector<double> ref = Falling(20);
  const LossEnvelope e = MeasureLossEnvelope(ref, {ref}, 20);
  std::vector<double> got = ref;
  got[3] += 0.5 * e.floor_rtol * ref[3];
  EXPECT_TRUE(CompareLosses(ref, got, ToleranceFor("fp32"), &e).pass);
  got[3] = ref[3] + 2 * e.floor_rtol * ref[3];
  const LossComparison c = CompareLosses(ref, got, ToleranceFor("fp32"), &e);
  EXPECT_FALSE(c.pass);
  EXPECT_EQ(c.first_bad_step, 3u);
}

TEST(ParityEnvelopeTest, ASaturatedEnvelopeDecidesNothingButNonFiniteLossesStillFail) {
  const std::vector<double> ref = Falling(20);
  // Doubling from 0.01: beyond 10% of the loss (~0.23) from step 5.
  const LossEnvelope late = MeasureLossEnvelope(ref, {Diverging(ref, 0.01)}, 20);
  EXPECT_EQ(late.saturated_from, 5u);
  std::vector<double> got = ref;
  got[12] += 5.0;  // after saturation: no evidence either way
  LossComparison c = CompareLosses(ref, got, ToleranceFor("fp32"), &late);
  EXPECT_TRUE(c.pass) << c.problem;
  EXPECT_EQ(c.informative_steps, 5u);
  got[12] = std::nan("");
  EXPECT_FALSE(CompareLosses(ref, got, ToleranceFor("fp32"), &late).pass);

  // Saturated from step 2: too few steps to decide.
  const LossEnvelope early = MeasureLossEnvelope(ref, {Diverging(ref, 0.06)}, 20);
  EXPECT_EQ(early.saturated_from, 2u);
  c = CompareLosses(ref, ref, ToleranceFor("fp32"), &early);
  EXPECT_FALSE(c.pass);
  EXPECT_TRUE(c.inconclusive);
  EXPECT_NE(c.problem.find("lower train.lr"), std::string::npos) << c.problem;
  // A probe that blew up saturates the envelope where it did.
  std::vector<double> blown = ref;
  blown[6] = INFINITY;
  EXPECT_EQ(MeasureLossEnvelope(ref, {blown}, 20).saturated_from, 6u);
}

TEST(ParityEnvelopeTest, NeedsAProbeWithEveryComparedLoss) {
  const std::vector<double> ref = Falling(20);
  EXPECT_THROW(MeasureLossEnvelope(ref, {}, 20), std::invalid_argument);
  EXPECT_THROW(MeasureLossEnvelope(ref, {Falling(19)}, 20), std::invalid_argument);
  EXPECT_THROW(MeasureLossEnvelope(Falling(10), {ref}, 20), std::invalid_argument);
}

TEST(ParityTest, UnknownPrecisionHasNoTolerance) {
  EXPECT_THROW(ToleranceFor("fp8"), std::invalid_argument);
}

TEST(ParityTest, ReadOutputChecksTheFile) {
  const auto dir = std::filesystem::temp_directory_path() / "fwbench_parity_test";
  std::filesystem::create_directories(dir);
  const std::vector<float> logits = {1, 2, 3, 4, 5, 6};
  const std::vector<float> inputs = {0.5f, 0.25f};
  const auto bytes = [](const std::vector<float>& v) {
    return std::span<const std::byte>(reinterpret_cast<const std::byte*>(v.data()),
                                      v.size() * sizeof(float));
  };
  safetensors::Write(dir / "ok.safetensors",
                     {{"logits", safetensors::DType::kF32, {2, 3}, bytes(logits)},
                      {"inputs", safetensors::DType::kF32, {2, 1}, bytes(inputs)}});
  const Output o = ReadOutput(dir / "ok.safetensors");
  EXPECT_EQ(o.rows, 2);
  EXPECT_EQ(o.classes, 3);
  EXPECT_EQ(o.logits, logits);
  EXPECT_EQ(o.inputs, inputs);

  safetensors::Write(dir / "nologits.safetensors",
                     {{"inputs", safetensors::DType::kF32, {2, 1}, bytes(inputs)}});
  try {
    ReadOutput(dir / "nologits.safetensors");
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("no tensor \"logits\""), std::string::npos) << e.what();
  }
  safetensors::Write(dir / "flat.safetensors",
                     {{"logits", safetensors::DType::kF32, {6}, bytes(logits)}});
  EXPECT_THROW(ReadOutput(dir / "flat.safetensors"), UsageError);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fwbench::parity
