// `fwbench worker-check` on the shipped workers, the PyPI ports and a fake worker. Its trials run
// on one thread, so ctest runs these two at a time (test_worker_check, PROCESSORS 1).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "run_fwbench.h"
#include "worker_catalogue.h"

namespace fwbench {
namespace {

using fwbench::testing::Doctor;
using fwbench::testing::FreshDir;
using fwbench::testing::Output;
using fwbench::testing::RunFwbench;
using fwbench::testing::WorkerEntry;

// The PyPI ports pass the protocol's conformance check: one per environment and per kind of
// port (TensorFlow, Keras, OpenVINO, torch.compile); jax and onnxruntime run in the same worker
// program and environment and are exercised by PyPIPorts (workers_e2e_test.cpp) (CI time: ~1 min
// each).
class OptionalFramework : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(OptionalFramework, PassesTheWorkerCheck) {
  const auto& [backend, mode] = GetParam();
  std::string skip;
  const nlohmann::json worker = WorkerEntry(Doctor(), backend, mode, skip);
  if (HasFailure()) return;
  if (!skip.empty()) GTEST_SKIP() << backend << "/" << mode << " cannot run here: " << skip;
  std::string command;
  for (const auto& part : worker["command"]) command += " " + part.get<std::string>();
  const auto out = FreshDir("workers_check_" + backend);
  const Output check = RunFwbench("worker-check --backend " + backend + " --mode " + mode +
                                  " --out " + out.string() + " --" + command);
  EXPECT_EQ(check.code, 0) << check.text;
  EXPECT_NE(check.text.find("worker-check: all"), std::string::npos) << check.text;
}

INSTANTIATE_TEST_SUITE_P(
    Ports, OptionalFramework,
    ::testing::Values(std::pair<std::string, std::string>{"tensorflow", "eager"},
                      std::pair<std::string, std::string>{"keras3", "jax"},
                      std::pair<std::string, std::string>{"openvino", "latency"},
                      std::pair<std::string, std::string>{"pytorch", "compiled"}),
    [](const auto& info) { return info.param.first + "_" + info.param.second; });

std::string Workers() { return std::string(FWBENCH_SOURCE_DIR) + "/workers"; }
std::string Python() {
  return std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

TEST(WorkerCheck, PassesForEveryShippedWorkerThatRunsHere) {
  const std::vector<std::string> cases = {
      "--backend pytorch --mode eager -- " + Python() + " " + Workers() +
          "/python/fwbench_worker.py torch {spec}",
      "--backend pytorch --mode torchscript -- " + Python() + " " + Workers() +
          "/python/fwbench_worker.py torch {spec}",
      "--backend onnxruntime-node --mode optimized -- node " + Workers() + "/node/worker.js ort",
      "--backend tfjs --mode wasm -- node " + Workers() + "/node/worker.js tfjs {spec}",
      "--backend opencv-dnn --mode default -- " + Python() + " " + Workers() +
          "/python/fwbench_worker.py opencv {spec}",
  };
  for (const std::string& args : cases) {
    const auto out = FreshDir("workers_check");
    const Output r = RunFwbench("worker-check --out " + out.string() + " " + args);
    EXPECT_EQ(r.code, 0) << args << "\n" << r.text;
    EXPECT_NE(r.text.find("all "), std::string::npos) << r.text;
    EXPECT_EQ(r.text.find("FAIL "), std::string::npos) << r.text;
    if (args.find("--backend tfjs --mode wasm") != std::string::npos) {
      // tfjs/wasm cannot train: the check reports the worker's own `unsupported` answer as a
      // skip.
      EXPECT_NE(r.text.find("skip  [train]"), std::string::npos) << r.text;
      EXPECT_NE(r.text.find("Conv2DBackpropFilter"), std::string::npos) << r.text;
    }
  }
}

TEST(WorkerCheck, RejectsAWorkerOnTheWrongClockNamingTheViolation) {
  const auto out = FreshDir("workers_check_wallclock");
  const Output r = RunFwbench("worker-check --tasks infer --out " + out.string() + " -- " +
                              FAKE_WORKER + " wallclock {spec}");
  EXPECT_EQ(r.code, 1) << r.text;
  EXPECT_NE(r.text.find("FAIL  [infer] timestamps are CLOCK_MONOTONIC"), std::string::npos)
      << r.text;
  EXPECT_NE(r.text.find("outside the process lifetime"), std::string::npos) << r.text;
  // The fake worker writes no parity output and dies on an unknown spec field: both named.
  EXPECT_NE(r.text.find("FAIL  [infer] writes the parity output"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("FAIL  [bad spec] a spec with an unknown field: exit code 2"),
            std::string::npos)
      << r.text;
}

TEST(WorkerCheck, ACorrectFakeWorkerPassesTheProtocolRules) {
  // The same fake worker on the right clock: only the parity output and the bad-spec rules,
  // which it does not implement, fail; every event-stream rule passes.
  const auto out = FreshDir("workers_check_ok");
  const Output r = RunFwbench("worker-check --tasks infer,train --out " + out.string() + " -- " +
                              FAKE_WORKER + " ok {spec}");
  EXPECT_NE(r.text.find("ok    [infer] timestamps are CLOCK_MONOTONIC"), std::string::npos)
      << r.text;
  EXPECT_NE(r.text.find("ok    [train] steps: consecutive"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("ok    [train] budget"), std::string::npos) << r.text;
}

}  // namespace
}  // namespace fwbench
