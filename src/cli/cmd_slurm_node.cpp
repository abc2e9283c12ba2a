// The commands the Slurm executor runs on a cluster's nodes (orchestrate/slurm_task.h). They are
// left out of `fwbench --help`: `fwbench run --executor slurm` writes their arguments.
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "orchestrate/slurm_task.h"

namespace fwbench::cli {

Command AddSlurmTaskCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "slurm-task",
      "Run one trial of a Slurm job array on this node (what `fwbench run --executor slurm` "
      "submits): TASKS is the run's slurm/tasks-N.json, INDEX the array task's index");
  cmd->group("");
  auto tasks = std::make_shared<std::string>();
  auto index = std::make_shared<std::size_t>(0);
  cmd->add_option("tasks", *tasks, "The run's task table (slurm/tasks-N.json)")->required();
  cmd->add_option("index", *index, "The array task's index ($SLURM_ARRAY_TASK_ID)")->required();
  return [tasks, index]() { return RunSlurmTask(*tasks, *index); };
}

Command AddSlurmNodeCheckCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "slurm-node-check",
      "Check that this node can run a plan's backends (what `fwbench run --executor slurm` runs "
      "on every node before submitting): prints one JSON line");
  cmd->group("");
  auto needs = std::make_shared<std::string>();
  cmd->add_option("needs", *needs, "What the node must run (JSON, written by fwbench run)")
      ->required();
  return [needs]() {
    std::cout << CheckThisNode(*needs).dump() << std::endl;
    return kExitOk;
  };
}

}  // namespace fwbench::cli
