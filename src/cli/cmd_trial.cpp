#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "backends/trial/libtorch_trial.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/protocol.h"
#include "core/trial_spec.h"
#include "orchestrate/builtin_workers.h"

namespace fwbench::cli {

namespace {

// libtorch/aoti's compile step: the PyTorch worker's exporter (torch.export, then AOTInductor and
// the C++ compiler) as a child of this trial, so its time and memory are the trial's compile.
AotiExporter PytorchWorkerExporter(const std::vector<std::string>& worker) {
  if (worker.empty()) return nullptr;
  return [worker](const TrialSpec& spec, const std::filesystem::path& package) {
    const nlohmann::json answer =
        RunWorkerCommand({worker.at(0), worker.at(1), "--export-aoti", spec.arch, spec.stem,
                          std::to_string(spec.num_classes), spec.weights.string(), package.string(),
                          std::to_string(spec.threads)},
                         spec.output_dir / "aoti_export.log",
                         3600.0,  // the orchestrator's trial timeout comes first
                         fmt::format("AOTInductor export by {}", worker.at(0)));
    return fmt::format("{} ({:.1f} s, torch.export {:.1f} s)",
                       answer.value("exporter", std::string("AOTInductor")),
                       answer.value("seconds", 0.0), answer.value("export_seconds", 0.0));
  };
}

}  // namespace

Command AddTrialCommand(CLI::App& app, std::int64_t t_main_ns) {
  CLI::App* cmd = app.add_subcommand(
      "trial",
      "Run one trial (the C++ reference worker of the trial protocol: libtorch eager, compiled "
      "or aoti): reads SPEC.json, prints protocol events as JSON Lines on stdout "
      "(docs/protocol.md). `fwbench run` calls this; run "
      "it by hand to debug a trial.");
  auto spec_path = std::make_shared<std::string>();
  cmd->add_option("spec", *spec_path, "Trial spec (JSON), e.g. results/<run>/trials/<id>/spec.json")
      ->required();
  auto faults = std::make_shared<TrialFaults>();
  cmd->add_option("--perturb-weights", faults->perturb_weights,
                  "Fault injection for testing the parity gate: add Gaussian noise of this "
                  "standard deviation to every weight after loading (0 = off)")
      ->type_name("SIGMA");
  std::string fault_help =
      "Fault injection for testing the training parity gate (docs/parity.md), image "
      "classification training only. NAME is one of:";
  for (const TrainingFaultInfo& f : TrainingFaults()) {
    fault_help += fmt::format("\n  {}: {}{}", f.name, f.what,
                              f.rounding_only ? " (rounding only: must pass the gate)" : "");
  }
  cmd->add_option("--fault", faults->training_fault, fault_help)->type_name("NAME");
  auto pytorch_worker = std::make_shared<std::vector<std::string>>();
  cmd->add_option("--pytorch-worker", *pytorch_worker,
                  "libtorch/aoti: the PyTorch worker that exports and compiles the model (its "
                  "interpreter and workers/python/fwbench_worker.py); `fwbench run` passes the "
                  "one that serves pytorch")
      ->expected(2)
      ->type_name("PYTHON WORKER_PY");
  return [spec_path, t_main_ns, faults, pytorch_worker]() -> int {
    TrialSpec spec;
    try {
      if (faults->perturb_weights < 0 || !std::isfinite(faults->perturb_weights)) {
        throw UsageError("--perturb-weights must be a finite number >= 0");
      }
      if (!faults->training_fault.empty()) TrainingFaultNamed(faults->training_fault);
      spec = ReadTrialSpec(*spec_path);
    } catch (const UsageError& e) {
      // The orchestrator reads stdout: say it there as a protocol error event, and on stderr.
      protocol::EventWriter(stdout).WriteError("usage", e.what());
      throw;
    }
    const int code =
        RunLibtorchTrial(spec, t_main_ns, stdout, *faults, PytorchWorkerExporter(*pytorch_worker));
    // Everything the trial measured is flushed; skip LibTorch's static teardown (tenths of a
    // second of thread-pool and allocator shutdown) so the process ends when the trial does.
    std::fflush(nullptr);
    std::_Exit(code);
  };
}

}  // namespace fwbench::cli
