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
