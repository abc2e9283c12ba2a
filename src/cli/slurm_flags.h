#pragma once
// `fwbench run`'s executor options (--executor slurm and the --slurm-* flags), and the node-side
// commands the Slurm executor runs on the cluster's nodes.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "orchestrate/slurm_executor.h"
#include "pipeline/benchmark.h"

namespace fwbench::cli {

struct SlurmFlags {
  std::string executor = "local";
  std::string partition;
  std::string account;
  std::vector<std::string> sbatch_args;
  int parallel = 0;
};

void AddSlurmFlags(CLI::App& cmd, SlurmFlags& flags);
SlurmOptions MakeSlurmOptions(const SlurmFlags& flags);
// What every node must run for this benchmark's configurations.
NodeNeeds NodeNeedsOf(const pipeline::Benchmark& benchmark);

}  // namespace fwbench::cli
