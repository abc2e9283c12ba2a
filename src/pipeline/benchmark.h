#pragma once
// The benchmark pipeline every command that runs trials goes through: prepare once (inputs,
// the backends found here, the configurations, the ONNX export, the environment), then run the
// trials through an executor into a run folder and build its results.json. Like MLPerf
// LoadGen's StartTest, the caller hands over a plan, an executor and a sink and gets results.
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/run_results.h"
#include "orchestrate/builtin_workers.h"
#include "orchestrate/plan.h"
#include "orchestrate/run_plan.h"
#include "orchestrate/trial_executor.h"

namespace fwbench::pipeline {

// What the caller has already, so that it is not made or probed twice.
struct Prepared {
  std::optional<std::vector<BuiltinBackend>> workers;  // the probed workers
  std::optional<RunInputs> inputs;                     // data, weights (and ONNX export)
};

// Everything a run needs before its first trial.
struct Benchmark {
  Plan plan;
  std::filesystem::path self_exe;
  std::vector<BuiltinBackend> workers;  // the shipped workers as probed here
  std::vector<Configuration> configs;   // what runs, in schedule order
  RunInputs inputs;
  nlohmann::json env;  // the environment fingerprint and the run's extras (env.json)
  int max_threads = 1;
};

// Checks and prepares the inputs (a bad data folder fails here, before the workers are probed),
// probes the workers the plan names, expands the configurations with LibTorch's rules (what it
// refuses is left out with a note on `log`), makes the ONNX export when a backend needs it (and
// leaves the ONNX backends out, with a warning, when it fails) and collects the environment.
// Throws UsageError for a plan that leaves nothing to run.
Benchmark PrepareBenchmark(const Plan& plan, std::ostream& log, Prepared prepared = {});

// Where a run's progress goes.
struct RunSink {
  std::ostream& progress;
  bool live_progress = false;  // a live line per trial (a terminal), else timestamped lines
};

struct BenchmarkRun {
  std::filesystem::path run_dir;
  RunTotals totals;
  RunResults results;                  // what results.json holds
  std::filesystem::path results_path;  // empty when it could not be written
  std::string stopped_by;              // why the run stopped early (a full disk), or ""
};

// Runs the benchmark's trials into a new folder under the plan's out_dir and builds and writes
// results.json from what they recorded. A write error (a full disk) stops the run: the trials
// that finished are kept, `stopped_by` says why, and the results are built when they can be.
BenchmarkRun RunBenchmark(const Benchmark& benchmark, TrialExecutor& executor, RunSink sink);

}  // namespace fwbench::pipeline
