// The orchestrator against a fake worker: scheduling, what lands on disk, and faults (a trial
// killed by SIGKILL, one that hangs past its limit, one that prints garbage) that must become
// failed trials with reasons while the run goes on.
#include "orchestrate/run_plan.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "report/results.h"
#include "report/table.h"

namespace fwbench {
namespace {

std::vector<nlohmann::json> ReadLines(const std::filesystem::path& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

class RunPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    out_ = std::filesystem::temp_directory_path() /
           ("fwbench_run_test_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(out_);
    plan_.trials = 2;
    plan_.warmup_trials = 0;  // WarmupTrialsComeFirstAndAreLeftOutOfTheResults covers them
    plan_.tasks = {"infer"};
    plan_.infer_batch_sizes = {4};
    plan_.infer_budget.min_steps = 12;
    plan_.trial_timeout_s = 5;
    plan_.out_dir = out_;
  }
  void AddWorker(const std::string& name, const std::string& mode) {
    plan_.workers[name] = {{FAKE_WORKER, mode, "{spec}"}, "eager"};
    plan_.backends.push_back(name);
  }
  std::filesystem::path Run(RunTotals& totals) {
    const auto configs = ExpandConfigurations(plan_, "/unused", 1);
    const auto run_dir = CreateRunDir(out_, plan_.name);
    std::ostringstream progress;
    totals = RunTrials(plan_, configs, {out_ / "data", out_ / "w.safetensors"},
                       nlohmann::json{{"test", true}}, run_dir, progress);
    progress_ = progress.str();
    return run_dir;
  }
  Plan plan_;
  std::filesystem::path out_;
  std::string progress_;
};

TEST_F(RunPlanTest, InterleavesConfigurationsAndRecordsEverything) {
  plan_.backends.clear();
  AddWorker("a", "ok");
  AddWorker("b", "ok");
  RunTotals totals;
  const auto run_dir = Run(totals);
  EXPECT_EQ(totals.trials_ok, 4);
  EXPECT_EQ(totals.trials_failed, 0);
  const auto trials = ReadLines(run_dir / "trials.jsonl");
  ASSERT_EQ(trials.size(), 4u);
  // Round-robin: a b a b.
  EXPECT_EQ(trials[0]["backend"], "a");
  EXPECT_EQ(trials[1]["backend"], "b");
  EXPECT_EQ(trials[2]["backend"], "a");
  EXPECT_EQ(trials[3]["backend"], "b");
  for (const auto& t : trials) {
    EXPECT_EQ(t["status"], "ok") << t.dump();
    EXPECT_EQ(t["steps"], 12);
    EXPECT_GT(t["max_rss_bytes"].get<std::int64_t>(), 0);
    EXPECT_TRUE(std::filesystem::exists(run_dir / t["stderr"].get<std::string>()));
  }
  // Every event is on disk with its trial id: hello + phase + 12 steps + metric + done.
  const auto events = ReadLines(run_dir / "events.jsonl");
  EXPECT_EQ(events.size(), 4u * 16u);
  EXPECT_EQ(events.front()["event"], "hello");
  EXPECT_EQ(events.front()["trial"], trials[0]["trial"]);

  const nlohmann::json results = ToJson(BuildResults(run_dir));
  EXPECT_TRUE(results["complete"].get<bool>());
  ASSERT_EQ(results["configurations"].size(), 2u);
  const auto& m = results["configurations"][0]["metrics"];
  // The fake worker sleeps ~1 ms per steady step; the median latency must reflect that, and
  // the 3 ms warm-up steps must have been truncated away.
  EXPECT_GE(m["latency_p50_ms"]["median"].get<double>(), 0.9);
  EXPECT_LT(m["latency_p50_ms"]["median"].get<double>(), 2.9);
  EXPECT_LE(m["latency_p50_ms"]["ci95_lo"].get<double>(),
            m["latency_p50_ms"]["median"].get<double>());
  EXPECT_GE(m["latency_p50_ms"]["ci95_hi"].get<double>(),
            m["latency_p50_ms"]["median"].get<double>());
  EXPECT_GT(m["ttfb_s"]["median"].get<double>(), 0.0);
  EXPECT_GE(m["warmup_steps"]["median"].get<double>(), 5.0);
  const std::string table = FormatTable(RunResultsFromJson(results));
  EXPECT_NE(table.find("a/eager/infer/b4"), std::string::npos) << table;
}

TEST_F(RunPlanTest, WarmupTrialsComeFirstAndAreLeftOutOfTheResults) {
  plan_.backends.clear();
  plan_.warmup_trials = 1;
  AddWorker("a", "ok");
  AddWorker("broken", "kill");
  RunTotals totals;
  const auto run_dir = Run(totals);
  const auto trials = ReadLines(run_dir / "trials.jsonl");
  ASSERT_EQ(trials.size(), 6u);
  // a-warm-up, broken-warm-up, then the measured round robin.
  EXPECT_EQ(trials[0]["role"], "warmup");
  EXPECT_EQ(trials[0]["backend"], "a");
  EXPECT_EQ(trials[0]["steps"], kWarmupTrialSteps);
  EXPECT_EQ(trials[1]["role"], "warmup");
  EXPECT_EQ(trials[1]["backend"], "broken");
  EXPECT_EQ(trials[1]["status"], "failed");
  for (std::size_t i = 2; i < trials.size(); ++i) {
    EXPECT_FALSE(trials[i].contains("role")) << trials[i].dump();
    if (trials[i]["backend"] == "a") EXPECT_EQ(trials[i]["steps"], 12) << trials[i].dump();
  }
  const nlohmann::json results = ToJson(BuildResults(run_dir));
  EXPECT_TRUE(results["complete"].get<bool>()) << results["warnings"].dump();
  EXPECT_EQ(results["trials"].size(), 4u);
  EXPECT_EQ(results["configurations"][0]["trials_ok"], 2);
  bool said = false;
  for (const auto& w : results["warnings"]) {
    said = said || w.get<std::string>().find("broken/eager/infer/b4: its warm-up trial failed") !=
                       std::string::npos;
  }
  EXPECT_TRUE(said) << results["warnings"].dump();
  EXPECT_NE(progress_.find("(warm-up)"), std::string::npos) << progress_;
}

TEST_F(RunPlanTest, TrialsStartWithOnePoolOfTheirThreadsAndALibraryThatIgnoresItIsRefused) {
  plan_.backends.clear();
  plan_.trials = 1;
  plan_.threads = {3};
  AddWorker("liar", "wrong-threads");  // reads back 4 threads for a pool it set to 3
  AddWorker("good", "ok");
  RunTotals totals;
  const auto run_dir = Run(totals);
  EXPECT_EQ(totals.trials_ok, 1);
  EXPECT_EQ(totals.trials_failed, 1);
  const auto trials = ReadLines(run_dir / "trials.jsonl");
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0]["status"], "failed");
  EXPECT_NE(trials[0]["reason"].get<std::string>().find(
                "thread pool \"fake intra-op\" was set to 3 threads but the library reports 4"),
            std::string::npos)
      << trials[0]["reason"];
  EXPECT_EQ(trials[1]["status"], "ok") << trials[1].dump();
  // The environment every trial starts in: OpenMP at the configuration's threads, OpenBLAS's
  // own pool at 1 (docs/workers.md).
  for (const auto& e : ReadLines(run_dir / "events.jsonl")) {
    if (e["event"] != "hello") continue;
    EXPECT_EQ(e["extra"]["env"]["OMP_NUM_THREADS"], "3") << e.dump();
    EXPECT_EQ(e["extra"]["env"]["OPENBLAS_NUM_THREADS"], "1") << e.dump();
    EXPECT_EQ(e["extra"]["env"]["MKL_NUM_THREADS"], "3") << e.dump();
  }
}

TEST_F(RunPlanTest, FaultsBecomeFailedTrialsAndTheRunGoesOn) {
  plan_.backends.clear();
  plan_.trials = 1;
  plan_.trial_timeout_s = 2;
  AddWorker("killed", "kill");
  AddWorker("hangs", "hang");
  AddWorker("garbage", "garbage");
  AddWorker("early", "early");
  AddWorker("errors", "error");
  AddWorker("good", "ok");
  RunTotals totals;
  const auto run_dir = Run(totals);
  EXPECT_EQ(totals.trials_ok, 1);
  EXPECT_EQ(totals.trials_failed, 5);
  const auto trials = ReadLines(run_dir / "trials.jsonl");
  ASSERT_EQ(trials.size(), 6u);
  const auto reason = [&](std::size_t i) { return trials[i]["reason"].get<std::string>(); };
  EXPECT_EQ(trials[0]["status"], "failed");
  EXPECT_NE(reason(0).find("killed by signal 9 (SIGKILL) after 3 steps"), std::string::npos)
      << reason(0);
  EXPECT_NE(reason(0).find("killing myself"), std::string::npos)
      << "stderr tail in reason: " << reason(0);
  EXPECT_EQ(trials[1]["status"], "failed");
  EXPECT_TRUE(trials[1]["timed_out"].get<bool>());
  EXPECT_NE(reason(1).find("timed out after 2 s"), std::string::npos) << reason(1);
  EXPECT_NE(reason(2).find("protocol error on stdout line 3"), std::string::npos) << reason(2);
  EXPECT_NE(reason(2).find("this is not a protocol event"), std::string::npos) << reason(2);
  EXPECT_NE(reason(3).find("exited early"), std::string::npos) << reason(3);
  EXPECT_NE(reason(4).find("simulated out of memory"), std::string::npos) << reason(4);
  EXPECT_EQ(trials[5]["status"], "ok") << reason(5);
  // The killed trial's steps before death are kept.
  std::size_t killed_steps = 0;
  for (const auto& e : ReadLines(run_dir / "events.jsonl")) {
    if (e["trial"] == trials[0]["trial"] && e["event"] == "step") ++killed_steps;
  }
  EXPECT_EQ(killed_steps, 3u);
  const nlohmann::json results = ToJson(BuildResults(run_dir));
  const std::string table = FormatTable(RunResultsFromJson(results));
  EXPECT_NE(table.find("failed trials (5)"), std::string::npos) << table;
}

TEST_F(RunPlanTest, UnknownBackendListsKnownOnes) {
  plan_.backends = {"caffe"};
  try {
    ExpandConfigurations(plan_, "/unused", 1);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("known: auto, libtorch, pytorch"), std::string::npos) << what;
    EXPECT_NE(what.find("tfjs"), std::string::npos) << what;
  }
}

// Built-in workers as a probe would find them: pytorch runs (not compiled), tfjs/wasm cannot
// train, openvino runs, tensorflow is not installed.
std::vector<BuiltinBackend> ProbedWorkers() {
  std::vector<BuiltinBackend> out = BuiltinWorkerCatalogue();
  for (BuiltinBackend& b : out) {
    b.command = {"/w/" + b.name, "{spec}"};
    if (b.name == "tfjs") b.mode_unavailable["wasm/train"] = "no Conv2DBackpropFilter kernel";
    if (b.name == "pytorch") {
      b.mode_unavailable["compiled"] = "needs PyTorch >= 2.0";
      b.precisions = {"fp32", "bf16"};
    }
    if (b.name != "pytorch" && b.name != "tfjs" && b.name != "onnxruntime-node" &&
        b.name != "openvino") {
      b.unavailable = "not installed";
    }
  }
  return out;
}

std::vector<std::string> Ids(const std::vector<Configuration>& configs) {
  std::vector<std::string> ids;
  for (const Configuration& c : configs) ids.push_back(c.id);
  return ids;
}

TEST_F(RunPlanTest, AutoIncludesLibtorchAndEveryAvailableWorkerSkippingWhatTheyCannotRun) {
  plan_.backends = {"auto"};
  plan_.tasks = {"train", "infer"};
  plan_.train_batch_size = 16;
  plan_.infer_batch_sizes = {1};
  const auto configs = ExpandConfigurations(plan_, "/x/fwbench", 2, ProbedWorkers());
  EXPECT_EQ(Ids(configs),
            (std::vector<std::string>{"libtorch/eager/train/b16", "libtorch/eager/infer/b1",
                                      "libtorch/compiled/train/b16", "libtorch/compiled/infer/b1",
                                      "pytorch/eager/train/b16", "pytorch/eager/infer/b1",
                                      "openvino/latency/infer/b1"}));
  for (const Configuration& c : configs) {
    EXPECT_EQ(c.needs_onnx, c.backend == "openvino") << c.id;
    if (c.backend == "pytorch") EXPECT_EQ(c.command.front(), "/w/pytorch");
  }
}

// A run probes the workers it names, not every framework installed.
// LibTorch is an entry of the catalogue like the workers: its rule leaves configurations out with
// a note, its aoti mode is run by a command that names the PyTorch worker, and only the modes
// that save their model are told to.
TEST_F(RunPlanTest, LibtorchIsACatalogueEntryWhoseRuleLeavesConfigurationsOutWithANote) {
  plan_.backends = {"libtorch", "libtorch/aoti"};
  plan_.tasks = {"train", "infer"};
  plan_.train_batch_size = 16;
  plan_.infer_batch_sizes = {4};
  std::vector<BuiltinBackend> workers = ProbedWorkers();
  for (BuiltinBackend& w : workers) {
    if (w.name == "pytorch")
      w.command = {"/v/python3", "/w/fwbench_worker.py", "pytorch", "{spec}"};
  }
  std::vector<BuiltinBackend> catalogue = workers;
  catalogue.push_back(LibtorchCatalogueEntry(
      "/x/fwbench", workers,
      [](const std::string&, const std::string& mode, const std::string& task, const std::string&,
         const std::string&) {
        return mode == "aoti" && task == "train" ? std::string("packages are inference graphs")
                                                 : std::string();
      }));
  std::vector<std::string> left_out;
  const auto configs = ExpandConfigurations(plan_, "/x/fwbench", 2, catalogue, &left_out);
  EXPECT_EQ(Ids(configs),
            (std::vector<std::string>{"libtorch/eager/train/b16", "libtorch/eager/infer/b4",
                                      "libtorch/aoti/infer/b4"}));
  EXPECT_EQ(left_out,
            std::vector<std::string>{"libtorch/aoti/train/b16: packages are inference graphs"});
  EXPECT_EQ(configs[2].command,
            (std::vector<std::string>{"/x/fwbench", "trial", "--pytorch-worker", "/v/python3",
                                      "/w/fwbench_worker.py", "{spec}"}));
  EXPECT_FALSE(configs[1].saves_model);
  EXPECT_TRUE(configs[2].saves_model);
  // Named alone, a mode the rule leaves nothing of is refused with the rule's reason.
  plan_.tasks = {"train"};
  plan_.backends = {"libtorch/aoti"};
  try {
    ExpandConfigurations(plan_, "/x/fwbench", 2, catalogue);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("packages are inference graphs"), std::string::npos)
        << e.what();
  }
  // Without a PyTorch worker here, aoti (which exports with it) says so.
  plan_.tasks = {"infer"};
  try {
    ExpandConfigurations(plan_, "/x/fwbench", 2, {});
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("the PyTorch worker cannot run here"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(BackendCatalogue().front().name, kLibtorchBackend);
}

TEST_F(RunPlanTest, OnlyTheWorkersAPlanNamesAreProbed) {
  plan_.backends = {"libtorch", "libtorch/compiled"};
  EXPECT_TRUE(BuiltinWorkersNamedBy(plan_).empty());
  plan_.backends = {"libtorch", "tensorflow/xla", "keras3/jax"};
  EXPECT_EQ(BuiltinWorkersNamedBy(plan_), (std::set<std::string>{"tensorflow", "keras3"}));
  // libtorch/aoti exports with the PyTorch worker; an ONNX backend runs its export.
  plan_.backends = {"libtorch/aoti", "openvino"};
  EXPECT_EQ(BuiltinWorkersNamedBy(plan_), (std::set<std::string>{"pytorch", "openvino"}));
  // A [workers.NAME] table shadows the built-in of that name.
  plan_.backends = {"jax"};
  plan_.workers["jax"] = {.command = {"/x/my-jax", "{spec}"}, .mode = "jit"};
  EXPECT_TRUE(BuiltinWorkersNamedBy(plan_).empty());
  plan_.backends = {"libtorch", "auto"};
  EXPECT_EQ(BuiltinWorkersNamedBy(plan_).size(), BuiltinWorkerCatalogue().size());
}

TEST_F(RunPlanTest, AnLlmPlanRunsOnlyThePortsThatImplementItInTheModesThatDo) {
  auto workers = ProbedWorkers();
  for (BuiltinBackend& b : workers) {
    if (b.name != "pytorch") continue;
    b.workloads = {"image_classification", "llm_lora"};
    b.workload_modes["llm_lora"] = {"eager", "compiled"};
  }
  plan_.workload = "llm_lora";
  plan_.backends = {"auto"};
  plan_.tasks = {"train", "infer"};
  plan_.train_batch_size = 8;
  plan_.infer_batch_sizes = {1};
  const auto configs = ExpandConfigurations(plan_, "/x/fwbench", 2, workers);
  // libtorch/compiled/infer is dropped by the CLI, which knows what libtorch runs.
  EXPECT_EQ(Ids(configs),
            (std::vector<std::string>{"libtorch/eager/train/b8", "libtorch/eager/infer/b1",
                                      "libtorch/compiled/train/b8", "libtorch/compiled/infer/b1",
                                      "pytorch/eager/train/b8", "pytorch/eager/infer/b1"}));
  plan_.backends = {"tfjs"};
  try {
    ExpandConfigurations(plan_, "/x/fwbench", 2, workers);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("the tfjs port does not implement the llm_lora workload"),
              std::string::npos)
        << e.what();
  }
  plan_.backends = {"pytorch/torchscript"};
  try {
    ExpandConfigurations(plan_, "/x/fwbench", 2, workers);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("pytorch/torchscript does not run the llm_lora workload "
                                         "(modes that do: eager, compiled)"),
              std::string::npos)
        << e.what();
  }
}

// A user's model in TensorFlow runs in function and xla, not eager (TensorFlow's default mode):
// named without a mode, the backend takes the first mode that runs the workload.
TEST_F(RunPlanTest, ABackendNamedWithoutAModeTakesTheFirstModeThatRunsTheWorkload) {
  auto workers = ProbedWorkers();
  for (BuiltinBackend& b : workers) {
    if (b.name != "tensorflow") continue;
    b.workloads = {"image_classification", "user_model"};
    b.workload_modes["user_model"] = {"function", "xla"};
    b.unavailable.clear();
  }
  plan_.workload = "user_model";
  plan_.backends = {"tensorflow"};
  plan_.tasks = {"infer"};
  plan_.infer_batch_sizes = {1};
  EXPECT_EQ(Ids(ExpandConfigurations(plan_, "/x/fwbench", 2, workers)),
            (std::vector<std::string>{"tensorflow/function/infer/b1"}));
  plan_.workload = "image_classification";
  EXPECT_EQ(Ids(ExpandConfigurations(plan_, "/x/fwbench", 2, workers)),
            (std::vector<std::string>{"tensorflow/eager/infer/b1"}));
}

TEST_F(RunPlanTest, AutoSkipsPrecisionsAWorkerDoesNotRunAndAWorkerAloneIsRefused) {
  plan_.backends = {"auto"};
  plan_.precisions = {"fp32", "bf16"};
  const auto ids = Ids(ExpandConfigurations(plan_, "/x/fwbench", 2, ProbedWorkers()));
  const auto has = [&](const std::string& id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
  };
  EXPECT_TRUE(has("pytorch/eager/infer/b4/bf16"));
  EXPECT_TRUE(has("openvino/latency/infer/b4"));
  EXPECT_FALSE(has("openvino/latency/infer/b4/bf16"));
  plan_.backends = {"tfjs"};
  plan_.precisions = {"bf16"};
  try {
    ExpandConfigurations(plan_, "/x/fwbench", 2, ProbedWorkers());
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("tfjs runs precisions fp32"), std::string::npos)
        << e.what();
  }
}

TEST_F(RunPlanTest, WorkerTableWithAnEmptyModeIsRefused) {
  plan_.workers["w"] = {{"prog", "{spec}"}, ""};
  plan_.backends = {"w"};
  try {
    ExpandConfigurations(plan_, "/x/fwbench", 2);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("workers.w.mode"), std::string::npos) << e.what();
  }
}

TEST_F(RunPlanTest, BuiltinWorkerNamedExplicitlyIsRefusedWithTheProbesReason) {
  plan_.tasks = {"train", "infer"};
  plan_.backends = {"tensorflow"};
  try {
    ExpandConfigurations(plan_, "/x/fwbench", 2, ProbedWorkers());
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot run on this machine: not installed"),
              std::string::npos)
        << e.what();
  }
  plan_.backends = {"pytorch/compiled"};
  try {
    ExpandConfigurations(plan_, "/x/fwbench", 2, ProbedWorkers());
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("needs PyTorch >= 2.0"), std::string::npos) << e.what();
  }
  plan_.backends = {"tfjs/webgl"};
  EXPECT_THROW(ExpandConfigurations(plan_, "/x/fwbench", 2, ProbedWorkers()), UsageError);
  // tfjs/wasm asked for by name: training is skipped, inference runs.
  plan_.backends = {"tfjs"};
  EXPECT_EQ(Ids(ExpandConfigurations(plan_, "/x/fwbench", 2, ProbedWorkers())),
            std::vector<std::string>{"tfjs/wasm/infer/b4"});
  plan_.tasks = {"train"};
  plan_.backends = {"onnxruntime-node"};
  try {
    ExpandConfigurations(plan_, "/x/fwbench", 2, ProbedWorkers());
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("runs infer only"), std::string::npos) << e.what();
  }
}

TEST_F(RunPlanTest, ReportSurvivesATornLastLine) {
  plan_.backends.clear();
  plan_.trials = 1;
  AddWorker("a", "ok");
  RunTotals totals;
  const auto run_dir = Run(totals);
  // Simulate an orchestrator killed mid-write, plus a missing second trial.
  std::ofstream(run_dir / "events.jsonl", std::ios::app) << "{\"trial\": \"x\", \"ev";
  const nlohmann::json results = ToJson(BuildResults(run_dir));
  EXPECT_EQ(results["configurations"][0]["trials_ok"], 1);
  bool torn_warned = false;
  for (const auto& w : results["warnings"])
    torn_warned |= w.get<std::string>().find("torn") != std::string::npos;
  EXPECT_TRUE(torn_warned) << results["warnings"].dump();
}

TEST_F(RunPlanTest, ADescendantHoldingStdoutDoesNotMakeAFinishedTrialTimeOut) {
  plan_.backends.clear();
  plan_.trials = 1;
  plan_.trial_timeout_s = 20;
  AddWorker("orphan", "orphan");
  RunTotals totals;
  const auto run_dir = Run(totals);
  const auto trials = ReadLines(run_dir / "trials.jsonl");
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0]["status"], "ok") << trials[0].dump();
  EXPECT_FALSE(trials[0]["timed_out"].get<bool>());
  const double wall_s = static_cast<double>(trials[0]["exit_ns"].get<std::int64_t>() -
                                            trials[0]["spawn_ns"].get<std::int64_t>()) *
                        1e-9;
  EXPECT_LT(wall_s, 10.0);
}

TEST_F(RunPlanTest, SpecInsideALongerArgumentIsReplaced) {
  plan_.backends = {"w"};
  plan_.trials = 1;
  // The fake worker takes the spec path as its last argument; "{spec}" alone there, and the
  // mode argument carries a prefix form that must be substituted too.
  plan_.workers["w"] = {{"/bin/sh", "-c", "exec " + std::string(FAKE_WORKER) + " ok {spec}"},
                        "eager"};
  RunTotals totals;
  Run(totals);
  EXPECT_EQ(totals.trials_ok, 1) << progress_;
}

TEST_F(RunPlanTest, MalformedRunFolderIsAUsageError) {
  const auto dir = out_ / "broken";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "manifest.json") << "{}";
  std::ofstream(dir / "env.json") << "{}";
  EXPECT_THROW(BuildResults(dir), UsageError);
}

TEST_F(RunPlanTest, ConfigurationIdentityCoversModePrecisionFormatAndThreads) {
  plan_.backends = {"libtorch", "libtorch/compiled"};
  plan_.tasks = {"infer"};
  plan_.infer_batch_sizes = {4};
  plan_.precisions = {"fp32", "bf16"};
  plan_.memory_formats = {"channels_last"};
  plan_.threads = {0, 1};
  const auto configs = ExpandConfigurations(plan_, "/self", 2);
  std::vector<std::string> ids;
  for (const auto& c : configs) ids.push_back(c.id);
  // The default of one thread is left out of the id; 0 is resolved to the count it stands for.
  EXPECT_EQ(ids, (std::vector<std::string>{
                     "libtorch/eager/infer/b4/channels_last/t2",
                     "libtorch/eager/infer/b4/channels_last",
                     "libtorch/eager/infer/b4/bf16/channels_last/t2",
                     "libtorch/eager/infer/b4/bf16/channels_last",
                     "libtorch/compiled/infer/b4/channels_last/t2",
                     "libtorch/compiled/infer/b4/channels_last",
                     "libtorch/compiled/infer/b4/bf16/channels_last/t2",
                     "libtorch/compiled/infer/b4/bf16/channels_last",
                 }));
  EXPECT_EQ(configs[0].threads, 2);  // 0 = the usable cores
  EXPECT_EQ(configs[1].threads, 1);
  EXPECT_EQ(configs[4].mode, "compiled");
  EXPECT_EQ(configs[4].command, (std::vector<std::string>{"/self", "trial", "{spec}"}));
  const nlohmann::json j = ToJson(configs[2]);
  EXPECT_EQ(j["precision"], "bf16");
  EXPECT_EQ(j["memory_format"], "channels_last");
}

TEST_F(RunPlanTest, ThreadCountsThatResolveToTheSameNumberAreRefused) {
  plan_.backends = {"libtorch"};
  plan_.tasks = {"infer"};
  plan_.threads = {0, 2};
  try {
    ExpandConfigurations(plan_, "/self", 2);
    FAIL() << "0 and 2 are the same count on 2 cores";
  } catch (const UsageError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("plan field threads"), std::string::npos) << msg;
    EXPECT_NE(msg.find("0 means all 2 usable cores"), std::string::npos) << msg;
  }
  // On 4 cores they are two configurations.
  EXPECT_EQ(ExpandConfigurations(plan_, "/self", 4).size(), 2u);
  EXPECT_EQ(Plan{}.threads, std::vector<std::int64_t>{kDefaultThreads});
}

TEST_F(RunPlanTest, BadModesAndDuplicateConfigurationsAreRefused) {
  plan_.backends = {"libtorch/jit"};
  std::string msg;
  try {
    ExpandConfigurations(plan_, "/self", 1);
  } catch (const UsageError& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("modes: eager, compiled"), std::string::npos) << msg;
  plan_.backends = {"libtorch", "libtorch/eager"};
  msg.clear();
  try {
    ExpandConfigurations(plan_, "/self", 1);
  } catch (const UsageError& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("appears twice"), std::string::npos) << msg;
  plan_.backends = {"libtorch/"};
  EXPECT_THROW(ExpandConfigurations(plan_, "/self", 1), UsageError);
}

}  // namespace
}  // namespace fwbench
