// MFU divides by the best matmul peak any library of the run reached on the same threads.
#include "report/model_flops.h"

#include <gtest/gtest.h>

namespace fwbench {
namespace {

nlohmann::json WorkerPeak(const std::string& backend, const std::string& mode, int threads,
                          double flops) {
  return {{"backend", backend},
          {"mode", mode},
          {"threads", threads},
          {"library", "tf.matmul (TensorFlow 2.21.0)"},
          {"flops_per_s", flops}};
}

TEST(ModelFlops, TheFastestGemmOfTheRunSetsEachThreadCountsPeak) {
  const nlohmann::json env = {
      {"matmul_peak", {{"1", {{"flops_per_s", 118e9}}}, {"2", {{"flops_per_s", 230e9}}}}},
      {"matmul_peaks",
       {WorkerPeak("keras3", "tensorflow", 1, 266e9),
        WorkerPeak("keras3", "jax", 1, 250e9),
        // A probe that failed says why and has no figure; a faster GEMM on other threads is
        // not this thread count's.
        {{"backend", "pytorch"}, {"mode", "eager"}, {"threads", 1}, {"error", "no torch"}},
        WorkerPeak("pytorch", "eager", 2, 200e9),
        WorkerPeak("keras3", "tensorflow", 4, 900e9)}}};
  const std::map<int, MatmulPeak> peaks = BestMatmulPeaks(env);
  ASSERT_EQ(peaks.size(), 3u);
  EXPECT_DOUBLE_EQ(peaks.at(1).flops_per_s, 266e9);
  EXPECT_EQ(peaks.at(1).source, "keras3/tensorflow: tf.matmul (TensorFlow 2.21.0)");
  EXPECT_DOUBLE_EQ(peaks.at(1).libtorch_flops_per_s, 118e9);
  EXPECT_DOUBLE_EQ(peaks.at(2).flops_per_s, 230e9);
  EXPECT_EQ(peaks.at(2).source, "libtorch");
  const std::vector<std::string> notes = MatmulPeakNotes(peaks);
  ASSERT_EQ(notes.size(), 3u);
  EXPECT_EQ(notes[0],
            "MFU on 1 thread divides by 266.0 GFLOP/s, the best fp32 matmul peak measured in this "
            "run (keras3/tensorflow: tf.matmul (TensorFlow 2.21.0)); LibTorch's reached 118.0");
  EXPECT_EQ(notes[1],
            "MFU on 2 threads divides by 230.0 GFLOP/s, the best fp32 matmul peak measured in "
            "this run (LibTorch's)");
}

TEST(ModelFlops, AWorkerPeakAloneStillGivesAnMfuAndNoPeakGivesNone) {
  EXPECT_TRUE(BestMatmulPeaks(nlohmann::json::object()).empty());
  const std::map<int, MatmulPeak> peaks =
      BestMatmulPeaks({{"matmul_peaks", {WorkerPeak("keras3", "jax", 1, 200e9)}}});
  ASSERT_EQ(peaks.count(1), 1u);
  EXPECT_DOUBLE_EQ(peaks.at(1).libtorch_flops_per_s, 0.0);
  EXPECT_EQ(MatmulPeakNotes(peaks).at(0).find("LibTorch's reached"), std::string::npos);
}

ConfigurationResult TrainConfig(int threads, double tokens_per_s) {
  ConfigurationResult c;
  c.summary.config = "keras3/tensorflow";
  c.summary.task = "train";
  c.threads = threads;
  c.summary.metrics["tokens_per_s"] = {
      {tokens_per_s, tokens_per_s * 0.9, tokens_per_s * 1.1, 3, 0.95}, 0.01, "tokens/s"};
  return c;
}

TEST(ModelFlops, MfuIsTokensTimesFlopsOverTheBestPeakAndAbsentOnAGpu) {
  const nlohmann::json manifest = {{"plan", {{"device", "cpu"}}},
                                   {"llm", {{"train_flops_per_token", 1e9}}}};
  const std::map<int, MatmulPeak> peaks = {{1, {250e9, "keras3/jax", 118e9}}};
  ConfigurationResult c = TrainConfig(1, 200.0);
  AddModelFlopsUtilisation(c, manifest, peaks);
  ASSERT_EQ(c.summary.metrics.count("mfu"), 1u);
  EXPECT_NEAR(c.summary.metrics["mfu"].estimate.value, 0.8, 1e-12);
  EXPECT_NEAR(c.summary.metrics["mfu"].estimate.ci_hi, 0.88, 1e-12);
  EXPECT_EQ(c.summary.metrics.count("prefill_mfu"), 0u) << "a training configuration";

  ConfigurationResult other_threads = TrainConfig(2, 200.0);
  AddModelFlopsUtilisation(other_threads, manifest, peaks);
  EXPECT_EQ(other_threads.summary.metrics.count("mfu"), 0u) << "no peak on 2 threads";

  nlohmann::json gpu = manifest;
  gpu["plan"]["device"] = "cuda";
  ConfigurationResult on_gpu = TrainConfig(1, 200.0);
  AddModelFlopsUtilisation(on_gpu, gpu, peaks);
  EXPECT_EQ(on_gpu.summary.metrics.count("mfu"), 0u);
}

}  // namespace
}  // namespace fwbench
