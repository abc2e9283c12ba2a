#include "cli/slurm_flags.h"

#include "orchestrate/run_plan.h"

namespace fwbench::cli {

void AddSlurmFlags(CLI::App& cmd, SlurmFlags& flags) {
  cmd.add_option("--executor", flags.executor,
                 "Where trials run: local (forked here, one at a time) or slurm (one job array "
                 "on the cluster SLURM_CONF names, one trial per array task on a whole node; "
                 "the results folder and fwbench's paths must be the same on every node; "
                 "docs/scale-out.md)")
      ->check(CLI::IsMember({"local", "slurm"}))
      ->capture_default_str();
  cmd.add_option("--slurm-partition", flags.partition,
                 "Partition the trials run in (default: the cluster's default partition)");
  cmd.add_option("--slurm-account", flags.account, "Account the job array is charged to");
  cmd.add_option("--slurm-arg", flags.sbatch_args,
                 "An sbatch option passed as it is, e.g. --slurm-arg=--gres=gpu:1 or "
                 "--slurm-arg=--exclude=node7 (repeat for more)")
      ->allow_extra_args(false);
  cmd.add_option("--slurm-parallel", flags.parallel,
                 "Array tasks running at once (each holds a whole node); 0: one per node of the "
                 "partition that is up")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

SlurmOptions MakeSlurmOptions(const SlurmFlags& flags) {
  SlurmOptions o;
  o.partition = flags.partition;
  o.account = flags.account;
  o.sbatch_args = flags.sbatch_args;
  o.parallel = flags.parallel;
  o.self_exe = std::filesystem::read_symlink("/proc/self/exe");
  o.stop_requested = [] { return StopRequested(); };
  return o;
}

NodeNeeds NodeNeedsOf(const pipeline::Benchmark& b) {
  NodeNeeds needs;
  for (const Configuration& c : b.configs) {
    if (c.command.empty()) continue;
    needs.commands[c.backend] = c.command;
    for (const BuiltinBackend& w : b.workers) {
      if (w.name == c.backend &&
          std::find(needs.builtin_workers.begin(), needs.builtin_workers.end(), w.name) ==
              needs.builtin_workers.end()) {
        needs.builtin_workers.push_back(w.name);
      }
    }
  }
  needs.python_overrides = b.plan.worker_pythons;
  return needs;
}

}  // namespace fwbench::cli
