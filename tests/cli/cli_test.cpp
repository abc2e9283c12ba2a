// Black-box tests of the fwbench binary: exit codes and messages for bad input, the run
// command end to end on fake workers.
#include <gtest/gtest.h>

#include "run_fwbench.h"

#include <nlohmann/json.hpp>

#include "data/synthetic.h"

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

namespace {

using fwbench::testing::Output;
using fwbench::testing::RunFwbench;

TEST(Cli, HelpOnEveryCommand) {
  for (const char* sub : {"", "run", "trial", "report", "doctor", "plan", "compare", "history",
                          "export", "worker-check", "lora-merge", "dx", "dx-case"}) {
    const Output out = RunFwbench(std::string(sub) + " --help");
    EXPECT_EQ(out.code, 0) << sub << ": " << out.text;
    EXPECT_NE(out.text.find("Usage"), std::string::npos) << sub;
  }
}

TEST(Cli, DxUsageErrorsNameWhatIsWrong) {
  const auto out_dir = std::filesystem::temp_directory_path() / "fwbench_cli_dx";
  Output out = RunFwbench("dx --faults typo --out " + out_dir.string());
  EXPECT_EQ(out.code, 2) << out.text;
  EXPECT_NE(out.text.find("unknown fault 'typo' (have: shape_mismatch, exploding_loss"),
            std::string::npos)
      << out.text;
  out = RunFwbench("dx --backends nope --faults bad_batch --out " + out_dir.string());
  EXPECT_EQ(out.code, 2) << out.text;
  EXPECT_NE(out.text.find("--backends: unknown backend 'nope' (have: libtorch, pytorch"),
            std::string::npos)
      << out.text;
  out = RunFwbench("dx --backends libtorch/fast --faults bad_batch --out " + out_dir.string());
  EXPECT_EQ(out.code, 2) << out.text;
  EXPECT_NE(out.text.find("libtorch has no mode 'fast' (have: eager, compiled, aoti)"),
            std::string::npos)
      << out.text;
  out = RunFwbench("dx-case /nonexistent/request.json");
  EXPECT_EQ(out.code, 2) << out.text;
  // `fwbench dx` reads the reason from stdout.
  EXPECT_NE(
      out.text.find(R"({"event":"error","kind":"usage","message":"/nonexistent/request.json)"),
      std::string::npos)
      << out.text;
  EXPECT_NE(out.text.find("/nonexistent/request.json: cannot read the dx request"),
            std::string::npos)
      << out.text;
}

TEST(Cli, ReportOfAMissingFolderIsAUsageError) {
  const Output out = RunFwbench("report /nonexistent/fwbench-run");
  EXPECT_EQ(out.code, 2) << out.text;
  EXPECT_NE(out.text.find("/nonexistent/fwbench-run: no such run folder"), std::string::npos)
      << out.text;
}

TEST(Cli, ReportOfARunFromANewerSchemaSaysSoAndWritesNothing) {
  const auto dir = std::filesystem::temp_directory_path() / "fwbench_cli_newer_schema";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "manifest.json") << R"({"schema_version": 7, "configurations": []})";
  std::ofstream(dir / "env.json") << "{}";
  const Output out = RunFwbench("report " + dir.string());
  EXPECT_EQ(out.code, 2) << out.text;
  EXPECT_NE(out.text.find("written by a newer fwbench (run folder schema version 7; this "
                          "fwbench reads version 1 and older)"),
            std::string::npos)
      << out.text;
  EXPECT_FALSE(std::filesystem::exists(dir / "report.html"));
  EXPECT_FALSE(std::filesystem::exists(dir / "results.json"));
}

TEST(Cli, UnknownBackendIsAUsageError) {
  const Output out = RunFwbench("run --quick --backends caffe --out /tmp/fwbench_cli_test");
  EXPECT_EQ(out.code, 2) << out.text;
  EXPECT_NE(out.text.find("unknown backend 'caffe'"), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("libtorch"), std::string::npos) << out.text;
}

TEST(Cli, BuiltinWorkerThatCannotRunHereIsAUsageErrorWithTheReason) {
  // A Python that does not exist: every Python worker is unavailable, and naming one says why.
  const Output out = RunFwbench("run --quick --backends pytorch --out /tmp/fwbench_cli_test",
                                "FWBENCH_PYTHON=/nonexistent/python3");
  EXPECT_EQ(out.code, 2) << out.text;
  EXPECT_NE(out.text.find("pytorch cannot run on this machine"), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("/nonexistent/python3"), std::string::npos) << out.text;
  // ONNX backends need the PyTorch worker's export: without it they are refused, saying so.
  const Output onnx =
      RunFwbench("run --quick --backends onnxruntime-node --out /tmp/fwbench_cli_test",
                 "FWBENCH_PYTHON=/nonexistent/python3");
  EXPECT_EQ(onnx.code, 2) << onnx.text;
  EXPECT_NE(onnx.text.find("which the PyTorch worker makes"), std::string::npos) << onnx.text;
}

TEST(Cli, BadFlagValueIsAUsageError) {
  const Output out = RunFwbench("run --trials three --out /tmp/fwbench_cli_test");
  EXPECT_EQ(out.code, 2) << out.text;
  EXPECT_NE(out.text.find("--trials"), std::string::npos) << out.text;
}

TEST(Cli, UnknownModelIsAUsageError) {
  const Output out = RunFwbench("run --quick --model resnet19 --out /tmp/fwbench_cli_test");
  EXPECT_EQ(out.code, 2) << out.text;
  EXPECT_NE(out.text.find("resnet19"), std::string::npos) << out.text;
}

TEST(Cli, MissingDataDirIsAUsageError) {
  const Output out =
      RunFwbench("run --quick --data /nonexistent/cifar --out /tmp/fwbench_cli_test");
  EXPECT_EQ(out.code, 2) << out.text;
  EXPECT_NE(out.text.find("/nonexistent/cifar"), std::string::npos) << out.text;
}

TEST(Cli, MalformedPlanIsAUsageError) {
  const std::string path = "/tmp/fwbench_cli_test_bad.toml";
  std::ofstream(path) << "[model]\narch = 50\n";
  const Output out = RunFwbench("run " + path);
  EXPECT_EQ(out.code, 2) << out.text;
  EXPECT_NE(out.text.find("fwbench_cli_test_bad.toml:2: model.arch"), std::string::npos)
      << out.text;
}

TEST(Cli, TrialWithMissingSpecIsAUsageError) {
  const Output out = RunFwbench("trial /nonexistent/spec.json");
  EXPECT_EQ(out.code, 2) << out.text;
}

TEST(Cli, PlanPrintsEffectivePlan) {
  const Output out = RunFwbench("plan --quick --trials 4 --batch-sizes 2,3");
  EXPECT_EQ(out.code, 0) << out.text;
  EXPECT_NE(out.text.find("trials = 4"), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("batch_sizes = [2, 3]"), std::string::npos) << out.text;
}

TEST(Cli, CudaWithoutCudaLibtorchIsAUsageError) {
  const Output doctor = RunFwbench("doctor --json");
  ASSERT_EQ(doctor.code, 0) << doctor.text;
  const auto brace = doctor.text.find('{');
  ASSERT_NE(brace, std::string::npos) << doctor.text;
  if (nlohmann::json::parse(doctor.text.substr(brace))["libtorch"].value("cuda_available", false)) {
    GTEST_SKIP() << "this build's LibTorch has CUDA: the refusal cannot be observed here";
  }
  const Output out = RunFwbench("run --quick --device cuda --out /tmp/fwbench_cli_test");
  EXPECT_EQ(out.code, 2) << out.text;
  EXPECT_NE(out.text.find("--device cuda"), std::string::npos) << out.text;
}

TEST(Cli, CorruptWeightsFileIsAUsageErrorNamingTheFile) {
  const std::string path = "/tmp/fwbench_cli_test_corrupt.safetensors";
  // A header length far beyond the file's size.
  std::ofstream(path, std::ios::binary) << std::string("\xff\xff\x00\x00\x00\x00\x00\x00{}", 10);
  const Output out = RunFwbench("run --quick --weights " + path + " --out /tmp/fwbench_cli_test");
  EXPECT_EQ(out.code, 2) << out.text;
  EXPECT_NE(out.text.find(path), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("header length"), std::string::npos) << out.text;
}

TEST(Cli, TruncatedCifarFileIsAUsageErrorNamingFileAndOffset) {
  const std::filesystem::path dir = "/tmp/fwbench_cli_test_cifar";
  std::filesystem::remove_all(dir);
  fwbench::data::WriteSyntheticCifar10(dir, {.seed = 3, .train_per_file = 10, .test_records = 10});
  std::filesystem::resize_file(dir / "data_batch_3.bin", 3073 * 4 + 100);
  const Output out =
      RunFwbench("run --quick --data " + dir.string() + " --out /tmp/fwbench_cli_test");
  EXPECT_EQ(out.code, 2) << out.text;
  EXPECT_NE(out.text.find("data_batch_3.bin"), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("12292"), std::string::npos)
      << "byte offset of the torn record: " << out.text;
}

}  // namespace
