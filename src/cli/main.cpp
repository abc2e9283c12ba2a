// fwbench: same model, same data, same machine — which framework and mode wins, honestly.
#include <fmt/format.h>

#include <cstdio>
#include <iostream>
#include <map>

#include "cli/commands.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/version.h"

int main(int argc, char** argv) {
  // First thing: the trial protocol's time-to-first-batch breakdown needs main()'s start.
  const std::int64_t t_main_ns = fwbench::MonotonicNs();

  CLI::App app{
      "fwbench: runs the same model through several frameworks and modes in fresh "
      "processes and reports which wins on what, with confidence intervals."};
  app.require_subcommand(1);
  app.set_version_flag("--version", fmt::format("fwbench {} ({})", fwbench::FwbenchVersion(),
                                                fwbench::FwbenchGitRevision()));
  std::map<std::string, fwbench::cli::Command> commands;
  commands["run"] = fwbench::cli::AddRunCommand(app);
  commands["trial"] = fwbench::cli::AddTrialCommand(app, t_main_ns);
  commands["report"] = fwbench::cli::AddReportCommand(app);
  commands["doctor"] = fwbench::cli::AddDoctorCommand(app);
  commands["plan"] = fwbench::cli::AddPlanCommand(app);
  commands["worker-check"] = fwbench::cli::AddWorkerCheckCommand(app);
  commands["export"] = fwbench::cli::AddExportCommand(app);
  commands["compare"] = fwbench::cli::AddCompareCommand(app);
  commands["history"] = fwbench::cli::AddHistoryCommand(app);
  commands["lora-merge"] = fwbench::cli::AddLoraMergeCommand(app);
  commands["llm-export"] = fwbench::cli::AddLlmExportCommand(app);
  commands["llm-export-run"] = fwbench::cli::AddLlmExportRunCommand(app);
  commands["serve"] = fwbench::cli::AddServeCommand(app);
  commands["load"] = fwbench::cli::AddLoadCommand(app);
  commands["deploy"] = fwbench::cli::AddDeployCommand(app);
  commands["dx"] = fwbench::cli::AddDxCommand(app);
  commands["dx-case"] = fwbench::cli::AddDxCaseCommand(app);
  commands["ddp-launch"] = fwbench::cli::AddDdpLaunchCommand(app);
  commands["slurm-task"] = fwbench::cli::AddSlurmTaskCommand(app);
  commands["slurm-node-check"] = fwbench::cli::AddSlurmNodeCheckCommand(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : fwbench::kExitUsage;
  }
  for (const CLI::App* sub : app.get_subcommands()) {
    try {
      return commands.at(sub->get_name())();
    } catch (const fwbench::UsageError& e) {
      fmt::print(stderr, "fwbench {}: error: {}\n", sub->get_name(), e.what());
      return fwbench::kExitUsage;
    } catch (const std::exception& e) {
      fmt::print(stderr, "fwbench {}: failed: {}\n", sub->get_name(), e.what());
      return fwbench::kExitFailure;
    }
  }
  return fwbench::kExitUsage;
}
