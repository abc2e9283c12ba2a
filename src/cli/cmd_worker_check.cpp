#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <set>

#include "cli/commands.h"
#include "core/error.h"
#include "orchestrate/run_plan.h"
#include "orchestrate/worker_check.h"
#include "pipeline/run_inputs.h"

namespace fwbench::cli {

namespace {

struct WorkerCheckArgs {
  std::string backend = "worker";
  std::string mode = "eager";
  std::vector<std::string> tasks = {"infer", "train"};
  std::string out = "results/worker-check";
  double timeout_s = 600.0;
  std::vector<std::string> command;
};

}  // namespace

Command AddWorkerCheckCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "worker-check",
      "Run a worker through short trials (inference, training, a bad spec) and check it against "
      "docs/protocol.md rule by rule: event order and fields, CLOCK_MONOTONIC timestamps, "
      "steps and budget, the parity output, error reporting and exit codes. Exit 0 when every "
      "rule holds, 1 otherwise. Example: fwbench worker-check --mode wasm -- node "
      "workers/node/worker.js tfjs {spec}");
  auto args = std::make_shared<WorkerCheckArgs>();
  cmd->add_option("--backend", args->backend, "Backend name put in the specs")
      ->capture_default_str();
  cmd->add_option("--mode", args->mode, "Mode put in the specs (the worker's mode to check)")
      ->capture_default_str();
  cmd->add_option("--tasks", args->tasks, "Tasks to run: infer, train (comma-separated)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--out", args->out, "Folder for the specs, logs and outputs")
      ->capture_default_str();
  cmd->add_option("--timeout-s", args->timeout_s, "Time limit of each worker process")
      ->capture_default_str();
  cmd->add_option("command", args->command,
                  "The worker command after --; {spec} is replaced by the spec path (appended "
                  "when absent)")
      ->required();
  cmd->positionals_at_end(false);
  return [args]() {
    for (const std::string& t : args->tasks) {
      if (t != "infer" && t != "train") {
        throw UsageError(fmt::format("--tasks: '{}' is not a task (infer, train)", t));
      }
    }
    std::vector<std::string> command = args->command;
    bool has_spec = false;
    for (const std::string& a : command)
      has_spec = has_spec || a.find("{spec}") != std::string::npos;
    if (!has_spec) command.push_back("{spec}");

    // A small, fast set-up: the --quick model, 40 images per file.
    Plan plan;
    ApplyQuick(plan);
    plan.out_dir = args->out;
    plan.synthetic_train_per_file = 40;
    plan.synthetic_test = 40;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
    WorkerCheckOptions options;
    options.command = command;
    options.tasks = args->tasks;
    options.timeout_s = args->timeout_s;
    options.work_dir = std::filesystem::absolute(plan.out_dir) / "check";
    std::filesystem::remove_all(options.work_dir);
    plan.parity_batch = 4;
    RunInputs inputs{.data_dir = pipeline::PrepareData(plan),
                     .weights = pipeline::PrepareWeights(plan),
                     .onnx_model = {},
                     .tokens = {},
                     .adapter_init = {},
                     .llm_facts = {},
                     .user_model = {},
                     .user_model_facts = {},
                     .user_model_by_backend = {}};
    // The ONNX export, when the PyTorch worker can make it (ONNX Runtime workers need it).
    plan.backends = {"pytorch"};
    const auto builtins = ProbeBuiltinWorkers(WorkersDir(self), plan.worker_pythons,
                                              std::set<std::string>{"pytorch"});
    try {
      inputs.onnx_model = pipeline::PrepareOnnx(plan, inputs.weights, builtins);
    } catch (const std::exception& e) {
      std::cerr << fmt::format(
          "no ONNX export for the check ({}): workers that run ONNX will "
          "fail\n",
          e.what());
    }
    // The run's own mapping from plan to spec; CheckWorker sets each check's task and budget.
    Configuration config;
    config.backend = args->backend;
    config.mode = args->mode;
    config.task = "infer";
    config.batch_size = 2;
    config.threads = 1;
    config.command = command;
    config.needs_onnx = true;
    config.id = fmt::format("{}/{}/infer/b2", config.backend, config.mode);
    options.base = MakeTrialSpec(plan, config, inputs, /*rep=*/0, "check", options.work_dir);
    const TrialSpec& spec = options.base;
    std::cerr << fmt::format("worker-check: {} (backend {}, mode {}); logs in {}\n",
                             fmt::join(command, " "), spec.backend, spec.mode,
                             options.work_dir.string());
    const std::vector<CheckOutcome> outcomes = CheckWorker(options);
    std::cout << FormatCheck(outcomes);
    for (const CheckOutcome& o : outcomes) {
      if (!o.ok) return 1;
    }
    return 0;
  };
}

}  // namespace fwbench::cli
