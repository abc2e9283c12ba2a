#pragma once
// The node side of the Slurm executor (slurm_executor.h): what `fwbench slurm-task` and
// `fwbench slurm-node-check` do on a cluster node.
#include <cstddef>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace fwbench {

// Runs task `index` of the table the executor wrote (the trial's argv, environment, stderr file
// and time limit) on this node exactly as a local run forks a trial: its stdout lines are
// appended to the task's stdout file as they come, and its exit record (what RunProcess
// measured, the node and its machine type) is written last, atomically. The node's fingerprint
// goes to the run's nodes/ folder the first time a task runs there. Returns the exit code the
// task ends with: the trial's, or 1 when it could not start.
int RunSlurmTask(const std::filesystem::path& tasks_file, std::size_t index);

// Whether this node can start every command the run needs (`needs_file`: {commands: {backend:
// argv}, builtin_workers: [names]}), probing the shipped workers as the orchestrator did:
// {node, machine_type, missing: [{backend, why}]}.
nlohmann::json CheckThisNode(const std::filesystem::path& needs_file);

// A machine's type as reports name it: CPU model, usable cores, memory and GPUs. Results from
// machines of different types are compared, never pooled.
std::string MachineType(const nlohmann::json& fingerprint);

// This node's name as Slurm calls it ($SLURMD_NODENAME), else the host name.
std::string NodeName();

}  // namespace fwbench
