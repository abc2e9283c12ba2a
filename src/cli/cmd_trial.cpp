#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "backends/libtorch_trial.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/protocol.h"
#include "core/trial_spec.h"

namespace fwbench::cli {

Command AddTrialCommand(CLI::App& app, std::int64_t t_main_ns) {
  CLI::App* cmd = app.add_subcommand(
      "trial",
      "Run one trial (the C++ reference worker of the trial protocol: libtorch eager or "
      "compiled): reads SPEC.json, prints protocol events as JSON Lines on stdout "
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
  return [spec_path, t_main_ns, faults]() -> int {
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
    const int code = RunLibtorchTrial(spec, t_main_ns, stdout, *faults);
    // Everything the trial measured is flushed; skip LibTorch's static teardown (tenths of a
    // second of thread-pool and allocator shutdown) so the process ends when the trial does.
    std::fflush(nullptr);
    std::_Exit(code);
  };
}

}  // namespace fwbench::cli
