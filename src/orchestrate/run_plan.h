#pragma once
// Runs a plan's trials: expands configurations, schedules them round-robin (A B C A B C …),
// spawns each trial as a fresh process and appends what it measured to the run folder.
#include <filesystem>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/trial_spec.h"
#include "orchestrate/builtin_workers.h"
#include "orchestrate/plan.h"
#include "orchestrate/trial_executor.h"

namespace fwbench {

// One thing being compared: a backend in a mode, on a task, at a batch size, with a precision,
// a memory format and a thread count. Every one of these is part of its identity.
struct Configuration {
  // "libtorch/eager/infer/b8", plus "/bf16", "/channels_last", "/t4" when not fp32, contiguous,
  // kDefaultThreads
  std::string id;
  std::string backend;
  std::string mode;
  std::string task;
  std::int64_t batch_size = 0;
  std::string precision = "fp32";
  std::string memory_format = "contiguous";
  int threads = 1;        // resolved: never 0; per process for train_ddp
  int ddp_processes = 1;  // train_ddp: rank processes ("/p2" in the id)
  int ddp_hosts = 1;      // train_ddp: hosts they spread over ("/h2" when > 1)
  // input_pipeline: the backend's own input pipeline (cpp, dataloader, tf.data, grain), its
  // loader threads or processes ("/w2"), whether its batches feed the training step ("/train")
  // and, tf.data on images, whether it caches the decoded folder ("/cache").
  std::string loader;
  int loader_workers = 0;
  bool pipeline_trains = false;
  bool pipeline_cache = false;
  std::vector<std::string> command;  // "{spec}" stands for the trial spec path
  bool needs_onnx = false;           // the worker runs the ONNX export of the weights
  bool from_auto = false;            // chosen by backends = ["auto"], not named by the user
  bool saves_model = false;          // its first trial saves the model it ran (saving_modes)
};

// Expands the plan's cross product; thread count 0 becomes `usable_cores`. `builtins` is the
// catalogue as probed on this machine: the shipped workers, and LibTorch's entry with its
// rules (without one, LibtorchCatalogueEntry's is used). "auto" in backends stands for every
// available built-in backend's auto_modes, and a built-in backend skips the tasks and the
// mode/task pairs it does not run; the configurations its `refusal` rejects are left out and
// named, with the reason, in `left_out`. Throws UsageError for a backend that is neither built
// in nor a [workers.NAME], an unknown mode, a built-in worker that cannot run here (with the
// probe's reason), or a backend named explicitly that is left with nothing to run.
std::vector<Configuration> ExpandConfigurations(const Plan& plan,
                                                const std::filesystem::path& self_exe,
                                                int usable_cores,
                                                const std::vector<BuiltinBackend>& builtins = {},
                                                std::vector<std::string>* left_out = nullptr);
std::vector<std::string> KnownBackends(const Plan& plan);

// In a train_ddp trial's command (ddp-launch --log-dir), the trial's folder.
inline constexpr char kTrialDirPlaceholder[] = "{trial_dir}";

// A worker command with every "{spec}" (also inside a longer argument) replaced by `spec`.
std::vector<std::string> SubstituteSpec(const std::vector<std::string>& command,
                                        const std::filesystem::path& spec);

// The built-in workers the plan's backends need probed: every one for `auto`, else those it
// names (pytorch for libtorch/aoti's export; pytorch too for an ONNX backend, whose input it
// exports). Empty when the plan uses none.
std::set<std::string> BuiltinWorkersNamedBy(const Plan& plan);

nlohmann::json ToJson(const Configuration& config);

// The cores a configuration keeps busy: its threads, times its processes for train_ddp; for
// input_pipeline its loader workers and the consuming thread (the training threads when it
// trains; 0 workers load in the consuming thread).
int BusyCores(const Configuration& config);

struct RunInputs {
  std::filesystem::path data_dir;      // CIFAR-10 binary folder every trial reads
  std::filesystem::path weights;       // initial weights every trial loads (LLM: checkpoint folder)
  std::filesystem::path onnx_model;    // ONNX export of `weights`, for configurations needing it
  std::filesystem::path tokens;        // LLM: the packed token file every trial reads
  std::filesystem::path adapter_init;  // LLM: the initial adapter weights (PEFT folder)
  nlohmann::json llm_facts;            // LLM: model facts for the manifest (FLOPs per token, …)
  // The user's model: its file, inputs and input rows (pipeline/user_model.h), and what the
  // manifest says of it (its reference runtime, the inputs as the model declares them).
  UserModelSpec user_model;
  nlohmann::json user_model_facts;
  // What each backend loads where that is not the user's own model: fwbench's conversion of it
  // (a PyTorch module exported to ONNX for the ONNX runtimes).
  std::map<std::string, UserModelSpec> user_model_by_backend;
};

// The parity gate's reference kind: libtorch eager, fp32, contiguous (docs/parity.md).
bool IsParityReference(const Configuration& c);

// Rounding probes run after the measured trials for each reference training configuration:
// that many trials, each as long as the losses the parity gate compares (docs/parity.md).
inline constexpr int kRoundingProbes = 3;
// Steps of a warm-up trial: past the first (compilation, first kernels) and the few after it
// that TorchScript's profiling executor and XLA's autotuning still optimise.
inline constexpr std::int64_t kWarmupTrialSteps = 5;
// An input pipeline's trial steps at most this many batches when the plan sets no step limit:
// fwbench's loader delivers a CIFAR batch of 16 in ~40 µs, and 2 s of those would be 50,000
// step events (5 MB) a trial; 3,000 batches still take 2 s or more in the Python loaders.
inline constexpr std::int64_t kPipelineMaxSteps = 3000;
// The thread count of the last probe: another one than the reference's (1, or 2 for 1).
int RoundingProbeThreads(int threads);

// The spec of one trial of `config` in repetition `rep` (0-based), writing to `trial_dir`.
TrialSpec MakeTrialSpec(const Plan& plan, const Configuration& config, const RunInputs& inputs,
                        int rep, const std::string& trial_id,
                        const std::filesystem::path& trial_dir);

struct RunTotals {
  int trials_ok = 0;
  int trials_failed = 0;
  int trials_interrupted = 0;  // stopped by Ctrl-C or SIGTERM; neither ok nor failed
};

// Creates <out>/<UTC time>-<plan name>[-N] and returns it.
std::filesystem::path CreateRunDir(const std::filesystem::path& out_dir, const std::string& name);

// Runs every trial; writes plan.toml, env.json, manifest.json, events.jsonl, trials.jsonl and
// trials/<id>/{spec.json,stderr.log} under run_dir. Progress goes to `progress`: a live line
// per trial when `live_progress` (a terminal), timestamped plain lines otherwise.
RunTotals RunTrials(const Plan& plan, const std::vector<Configuration>& configs,
                    const RunInputs& inputs, const nlohmann::json& env,
                    const std::filesystem::path& run_dir, TrialExecutor& executor,
                    std::ostream& progress, bool live_progress = false);
// The same with every trial forked on this machine (LocalExecutor).
RunTotals RunTrials(const Plan& plan, const std::vector<Configuration>& configs,
                    const RunInputs& inputs, const nlohmann::json& env,
                    const std::filesystem::path& run_dir, std::ostream& progress,
                    bool live_progress = false);

// Set by a signal handler: the run stops after killing the running trial.
void RequestStop();
// Whether RequestStop was called (an executor waiting on a remote trial polls it).
bool StopRequested();

}  // namespace fwbench
