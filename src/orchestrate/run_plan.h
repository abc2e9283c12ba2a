#pragma once
// Runs a plan's trials: expands configurations, schedules them round-robin (A B C A B C …),
// spawns each trial as a fresh process and appends what it measured to the run folder.
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "orchestrate/plan.h"

namespace fwbench {

// One thing being compared: a backend in a mode, on a task, at a batch size.
struct Configuration {
  std::string id;  // "libtorch/eager/infer/b8"
  std::string backend;
  std::string mode;
  std::string task;
  std::int64_t batch_size = 0;
  std::vector<std::string> command;  // "{spec}" stands for the trial spec path
};

// Throws UsageError for a backend that is neither built in nor a [workers.NAME].
std::vector<Configuration> ExpandConfigurations(const Plan& plan,
                                                const std::filesystem::path& self_exe);
std::vector<std::string> KnownBackends(const Plan& plan);

struct RunInputs {
  std::filesystem::path data_dir;  // CIFAR-10 binary folder every trial reads
  std::filesystem::path weights;   // initial weights every trial loads
  int threads = 1;                 // resolved thread count
};

struct RunTotals {
  int trials_ok = 0;
  int trials_failed = 0;
};

// Creates <out>/<UTC time>-<plan name>[-N] and returns it.
std::filesystem::path CreateRunDir(const std::filesystem::path& out_dir, const std::string& name);

// Runs every trial; writes plan.toml, env.json, manifest.json, events.jsonl, trials.jsonl and
// trials/<id>/{spec.json,stderr.log} under run_dir. Progress lines go to `progress`.
RunTotals RunTrials(const Plan& plan, const std::vector<Configuration>& configs,
                    const RunInputs& inputs, const nlohmann::json& env,
                    const std::filesystem::path& run_dir, std::ostream& progress);

// Set by a signal handler: the run stops after killing the running trial.
void RequestStop();

}  // namespace fwbench
