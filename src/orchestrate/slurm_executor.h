#pragma once
// Runs a plan's trials on a Slurm cluster: the schedule becomes one job array (one trial per
// array task, in the plan's order), each task runs `fwbench slurm-task` on its node, which forks
// the trial there exactly as a local run does and writes its stdout and exit record into the
// shared run folder; this side tails them into the same monitor, log and records as a local run.
// docs/scale-out.md describes the cluster it expects (a shared folder, the same paths on every
// node) and the options.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "orchestrate/trial_executor.h"

namespace fwbench {

struct SlurmOptions {
  std::string partition;                 // empty: the cluster's default partition
  std::string account;                   // empty: the user's default account
  std::vector<std::string> sbatch_args;  // passed to sbatch as they are (--gres=gpu:1, …)
  // Array tasks running at once; 0: as many as the partition has nodes that are up. Each task
  // holds a whole node (--exclusive), so trials never share a machine.
  int parallel = 0;
  std::filesystem::path self_exe;        // the fwbench every node runs (same path on every node)
  std::function<bool()> stop_requested;  // polled while waiting: the run is being stopped
  double poll_s = 0.25;                  // how often the shared folder is read
  double state_poll_s = 2.0;             // how often Slurm is asked for a task's state
  // A task pending for a reason that means no node can take it (every node down, a drained
  // partition) for this long is cancelled and recorded as failed: a run never waits forever.
  double unschedulable_s = 60.0;
  // A task gone from the queue without its exit record is asked about after this long; one that
  // Slurm says ended by itself (COMPLETED, FAILED) wrote its record, which gets up to
  // exit_record_wait_s to show in the shared folder (NFS caches a missing name for up to 60 s
  // by default); a lost node's (NODE_FAIL) or a cancelled task's counts as lost at once.
  double exit_record_grace_s = 3.0;
  double exit_record_wait_s = 90.0;
  // How long the node check may wait for every node at once (a busy cluster) before the run
  // stops with the nodes that did not answer named.
  double node_check_timeout_s = 600.0;
  // Array tasks per sbatch: Slurm's default MaxArraySize (1001) allows indexes 0-1000.
  std::size_t max_array_tasks = 1000;
};

// A command's result, for Slurm's client programs.
struct CommandOutput {
  bool started = false;
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr (the last lines)
};
CommandOutput RunCommand(const std::vector<std::string>& argv, double timeout_s = 60.0);

// The partition's nodes and their states, from sinfo ("n1" → "idle").
struct SlurmNode {
  std::string name;
  std::string state;
  bool up = false;  // can take a job: not down, drained, failing or not responding
};

// Checks that Slurm's client commands are on PATH, a controller answers and the partition
// exists (an empty one becomes the cluster's default), and returns its nodes. Throws
// UsageError naming what is wrong and how to fix it.
std::vector<SlurmNode> CheckSlurm(SlurmOptions& options);

// The first sbatch line of a `--parsable` answer ("123" or "123;cluster") as a job id, or "".
std::string ParseSbatchJobId(const std::string& out);
// A sinfo `-N -h -o "%N %t"` listing as nodes (the same node listed once).
std::vector<SlurmNode> ParseSinfoNodes(const std::string& out);
// Whether a pending task's reason (squeue %r) means no node of the partition can run it now.
bool IsUnschedulableReason(const std::string& reason);

// What every node must be able to run: backend → its command (argv[0] must be executable there),
// the shipped workers among them (probed there) and the plan's interpreters for them.
struct NodeNeeds {
  std::map<std::string, std::vector<std::string>> commands;
  std::vector<std::string> builtin_workers;
  std::map<std::string, std::string> python_overrides;
};

class SlurmExecutor final : public TrialExecutor {
 public:
  explicit SlurmExecutor(SlurmOptions options);
  ~SlurmExecutor() override;

  // Runs `fwbench slurm-node-check` once on every node that is up (one srun), which checks that
  // the node can start every command the configurations run and probes the shipped workers they
  // use as this machine probed them. Throws UsageError naming each node that cannot, and why.
  // The check's file goes to `scratch_dir`, which every node must see (the results folder).
  void CheckNodes(const NodeNeeds& needs, const std::filesystem::path& scratch_dir);

  bool TakesSchedule() const override { return true; }
  void Submit(const std::filesystem::path& run_dir,
              const std::vector<ScheduledTrial>& trials) override;
  ProcessResult Run(const ProcessOptions& options, const LineHandler& on_line) override;
  std::int64_t RunningPid() const override { return 0; }
  nlohmann::json LastPlace() const override { return last_place_; }
  void Cancel() override;
  bool NextHasEnded() const override;

 private:
  struct Task {
    std::string trial_id;
    ProcessOptions options;
    std::string job_id;     // the array job
    std::size_t index = 0;  // the array index
    std::filesystem::path stdout_path, exit_path;
  };
  std::string TaskId(const Task& t) const;
  std::size_t SubmitArray(const std::vector<ScheduledTrial>& trials);
  ProcessResult Wait(Task& task, const LineHandler& on_line);

  SlurmOptions options_;
  std::vector<SlurmNode> nodes_;
  std::filesystem::path run_dir_;
  std::filesystem::path slurm_dir_;
  std::vector<Task> tasks_;
  std::vector<std::string> jobs_;
  std::size_t next_ = 0;
  int arrays_ = 0;
  int usable_nodes_ = 0;  // the nodes CheckNodes checked: up and not excluded
  nlohmann::json last_place_ = nlohmann::json::object();
};

}  // namespace fwbench
