// The shipped framework workers (workers/python, workers/node) run by `fwbench run` next to
// LibTorch: the same batches (parity inputs bit-identical), the parity gate passing, a
// time-to-first-batch breakdown for each; bad specs refused by the workers themselves.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "run_fwbench.h"

namespace fwbench {
namespace {

using fwbench::testing::FreshDir;
using fwbench::testing::Output;
using fwbench::testing::RunDir;
using fwbench::testing::RunFwbench;

const nlohmann::json* Config(const nlohmann::json& results, const std::string& id) {
  for (const auto& c : results["configurations"]) {
    if (c["config"] == id) return &c;
  }
  return nullptr;
}

// The workers CI must run: their frameworks come from Debian (python3-torch) and npm
// (workers/node/package-lock.json), both installed by scripts/install-deps.sh.
const std::vector<std::string> kRequired = {"pytorch/eager", "pytorch/torchscript",
                                            "onnxruntime-node/optimized", "tfjs/wasm"};

TEST(WorkersE2E, ShippedWorkersRunNextToLibtorchOnIdenticalBatchesAndPassParity) {
  const auto out = FreshDir("workers_auto");
  const Output r =
      RunFwbench("run --quick --trials 1 --batch-sizes 2 --backends auto --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.text;
  const nlohmann::json results = nlohmann::json::parse(std::ifstream(RunDir(out) / "results.json"));
  std::set<std::string> seen;
  for (const auto& c : results["configurations"]) {
    const std::string id = c["config"];
    seen.insert(c["backend"].get<std::string>() + "/" + c["mode"].get<std::string>());
    EXPECT_EQ(c["trials_ok"], 1) << id;
    const std::string status = c["parity"]["status"];
    EXPECT_TRUE(status == "pass" || status == "reference") << id << ": " << c["parity"].dump();
    EXPECT_TRUE(c["ranked"].get<bool>()) << id;
    // Every configuration has its time to first batch broken into phases.
    EXPECT_TRUE(c["metrics"].contains("ttfb_s")) << id;
    EXPECT_TRUE(c["metrics"].contains("phase.load_weights_s")) << id;
    if (c["task"] == "infer" && status == "pass") {
      // The same parity batch, bit for bit, went into every framework.
      EXPECT_EQ(c["parity"]["logits"]["inputs_max_abs"], 0.0) << id;
      EXPECT_LE(c["parity"]["logits"]["max_abs"].get<double>(), 1e-4) << id;
    }
    if (c["task"] == "train" && status == "pass") {
      EXPECT_EQ(c["parity"]["losses"]["compared"], 20) << id;
    }
  }
  for (const std::string& backend : kRequired) {
    EXPECT_TRUE(seen.contains(backend))
        << backend << " did not run: run ./scripts/install-deps.sh (see `fwbench doctor`)\n"
        << r.text;
  }
  // Python workers measure their framework import as a phase of their own.
  const nlohmann::json* py = Config(results, "pytorch/eager/infer/b2");
  ASSERT_NE(py, nullptr);
  EXPECT_TRUE((*py)["metrics"].contains("phase.import_s")) << (*py)["metrics"].dump();
  // Workers the frameworks of which are not installed are in the environment with the reason.
  bool listed = false;
  for (const auto& w : results["env"]["workers"]) {
    listed = true;
    if (!w["available"].get<bool>()) EXPECT_FALSE(w["reason"].get<std::string>().empty());
    if (w["available"].get<bool>()) EXPECT_GT(w["port_code_lines"].get<int>(), 20) << w.dump();
  }
  EXPECT_TRUE(listed);
  EXPECT_NE(r.text.find("TTFB phases"), std::string::npos);
  EXPECT_NE(r.text.find("import"), std::string::npos);
}

// Steps' losses of each trial of a run, from events.jsonl.
std::map<std::string, std::vector<double>> Losses(const std::filesystem::path& run_dir) {
  std::map<std::string, std::vector<double>> out;
  std::ifstream in(run_dir / "events.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    const auto& e = j.contains("event") && j["event"].is_object() ? j["event"] : j;
    if (e.value("event", "") != "step" || !e.contains("loss") || e["loss"].is_null()) continue;
    // The parity gate's rounding probes (trial "…-probeN") are not measured trials.
    if (e.value("trial", "").find("-probe") != std::string::npos) continue;
    out[j.value("config", j.value("trial", ""))].push_back(e["loss"].get<double>());
  }
  return out;
}

TEST(WorkersE2E, TfjsCpuTrainsLikeLibtorch) {
  // tfjs's pure-JavaScript backend is slow (about 50 s per step at batch 8 here): two steps are
  // enough to check the weights, the loss and the update (the second loss depends on SGD with
  // momentum and weight decay). Batch 8, not smaller: with batch 2, BatchNorm in layer4 normalises
  // two values per channel, so rounding differences of 1e-7 became a 2% difference in the second
  // loss (measured), which says nothing about correctness.
  const auto out = FreshDir("workers_tfjs_train");
  const Output r = RunFwbench(
      "run --quick --trials 1 --tasks train --train-batch-size 8 --train-min-steps 2 "
      "--train-max-steps 2 --train-max-seconds 900 --trial-timeout-s 900 --backends "
      "libtorch,tfjs/cpu --out " +
      out.string());
  ASSERT_EQ(r.code, 0) << r.text;
  const auto losses = Losses(RunDir(out));
  std::vector<double> ref, got;
  for (const auto& [key, v] : losses) {
    if (key.find("libtorch") != std::string::npos) ref = v;
    if (key.find("tfjs") != std::string::npos) got = v;
  }
  ASSERT_EQ(ref.size(), 2u) << r.text;
  ASSERT_EQ(got.size(), 2u) << r.text;
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_NEAR(got[i], ref[i], 1e-4 + 1e-3 * std::abs(ref[i])) << "step " << i;
  }
}

TEST(WorkersE2E, WorkersRefuseASpecWithAnUnknownFieldNamingIt) {
  const auto dir = FreshDir("workers_badspec");
  const auto spec = dir / "spec.json";
  std::ofstream(spec) << R"({"protocol_version": 1, "colour": "red"})";
  const std::string workers = std::string(FWBENCH_SOURCE_DIR) + "/workers";
  const std::string python =
      std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  for (const std::string& cmd :
       {python + " " + workers + "/python/fwbench_worker.py torch " + spec.string(),
        "node " + workers + "/node/worker.js ort " + spec.string()}) {
    std::string text;
    FILE* pipe = popen((cmd + " 2>/dev/null").c_str(), "r");
    std::array<char, 4096> buf{};
    while (std::fgets(buf.data(), buf.size(), pipe) != nullptr) text += buf.data();
    const int status = pclose(pipe);
    EXPECT_EQ(WEXITSTATUS(status), 2) << cmd << "\n" << text;
    const auto event = nlohmann::json::parse(text, nullptr, false);
    ASSERT_TRUE(event.is_object()) << cmd << ": stdout is not one JSON event: " << text;
    EXPECT_EQ(event["event"], "error");
    EXPECT_EQ(event["kind"], "usage");
    EXPECT_NE(event["message"].get<std::string>().find("colour"), std::string::npos) << text;
  }
}

// The ports whose frameworks Debian 12 and npm do not provide: run next to LibTorch where the
// framework imports, and must pass parity; elsewhere the test is skipped with the probe's reason.
class OptionalFramework : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(OptionalFramework, RunsNextToLibtorchAndPassesParityWhereInstalled) {
  const auto& [backend, mode] = GetParam();
  const Output doctor = RunFwbench("doctor --json");
  const auto env = nlohmann::json::parse(doctor.text.substr(doctor.text.find('{')), nullptr, false);
  ASSERT_TRUE(env.is_object()) << doctor.text;
  const nlohmann::json* worker = nullptr;
  for (const auto& w : env["workers"]) {
    if (w["name"] == backend) worker = &w;
  }
  ASSERT_NE(worker, nullptr) << backend << " is not in the catalogue";
  if (!(*worker)["available"].get<bool>()) {
    GTEST_SKIP() << backend << " is not installed here: " << (*worker)["reason"].get<std::string>();
  }
  if ((*worker)["mode_unavailable"].contains(mode)) {
    GTEST_SKIP() << backend << "/" << mode
                 << " cannot run here: " << (*worker)["mode_unavailable"][mode].get<std::string>();
  }
  const auto out = FreshDir("workers_optional_" + backend);
  const Output r = RunFwbench("run --quick --trials 1 --batch-sizes 2 --backends libtorch," +
                              backend + "/" + mode + " --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.text;
  const auto results = nlohmann::json::parse(std::ifstream(RunDir(out) / "results.json"));
  for (const auto& c : results["configurations"]) {
    if (c["backend"] != backend) continue;
    EXPECT_EQ(c["parity"]["status"], "pass") << c["config"] << ": " << c["parity"].dump();
  }
  // And the worker passes the protocol's conformance check.
  std::string command;
  for (const auto& part : (*worker)["command"]) command += " " + part.get<std::string>();
  const Output check = RunFwbench("worker-check --backend " + backend + " --mode " + mode +
                                  " --out " + (out / "check").string() + " --" + command);
  EXPECT_EQ(check.code, 0) << check.text;
}

INSTANTIATE_TEST_SUITE_P(
    Ports, OptionalFramework,
    ::testing::Values(std::pair<std::string, std::string>{"tensorflow", "eager"},
                      std::pair<std::string, std::string>{"tensorflow", "function"},
                      std::pair<std::string, std::string>{"tensorflow", "xla"},
                      std::pair<std::string, std::string>{"keras3", "tensorflow"},
                      std::pair<std::string, std::string>{"keras3", "torch"},
                      std::pair<std::string, std::string>{"keras3", "jax"},
                      std::pair<std::string, std::string>{"jax", "jit"},
                      std::pair<std::string, std::string>{"onnxruntime", "optimized"},
                      std::pair<std::string, std::string>{"pytorch", "compiled"}),
    [](const auto& info) { return info.param.first + "_" + info.param.second; });

TEST(Export, OnnxPortabilityMatrixNamesEachRuntimeAndTheOperatorThatFails) {
  const auto out = FreshDir("workers_export_onnx");
  Output r = RunFwbench("export --to onnx --quick --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_TRUE(std::filesystem::exists(out / "model-resnet18-imagenet.onnx")) << r.text;
  EXPECT_NE(r.text.find("onnxruntime-node  yes    pass: max |Δ|"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("opencv-dnn        yes    pass: max |Δ|"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("tfjs              n/a"), std::string::npos) << r.text;
  // torch.onnx's graph as written: OpenCV 4.6 rejects its Identity nodes, and says which.
  r = RunFwbench("export --to onnx --raw --quick --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_NE(r.text.find("opencv-dnn        no     worker error: unsupported: OpenCV 4.6.0 cannot "
                        "load the ONNX export: node Identity"),
            std::string::npos)
      << r.text;
}

TEST(Export, TorchScriptLoadsInLibtorchAndPythonWithTheSameResults) {
  const auto out = FreshDir("workers_export_ts");
  const Output r = RunFwbench("export --to torchscript --quick --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_TRUE(std::filesystem::exists(out / "model-resnet18-imagenet.pt")) << r.text;
  EXPECT_NE(r.text.find("libtorch (C++)    yes    pass"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("pytorch (Python)  yes    pass"), std::string::npos) << r.text;
}

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
  }
  // tfjs/wasm cannot train: the check reports the worker's own `unsupported` answer as a skip.
  const auto out = FreshDir("workers_check_tfjs");
  const Output r =
      RunFwbench("worker-check --out " + out.string() + " --backend tfjs --mode wasm -- node " +
                 Workers() + "/node/worker.js tfjs {spec}");
  EXPECT_NE(r.text.find("skip  [train]"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("Conv2DBackpropFilter"), std::string::npos) << r.text;
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
