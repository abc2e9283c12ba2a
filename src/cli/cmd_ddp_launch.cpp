#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "orchestrate/ddp_launch.h"

namespace fwbench::cli {

Command AddDdpLaunchCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "ddp-launch",
      "Run one data-parallel trial (task train_ddp) as N rank processes of COMMAND, what `fwbench "
      "run` does for each train_ddp trial: rank 0 speaks the trial protocol on stdout, the other "
      "ranks write rankR.stdout.jsonl and rankR.stderr.log in --log-dir. With --hosts H > 1 the "
      "ranks run in H network namespaces joined by a virtual switch (root). Each rank finds its "
      "number and its peers in FWBENCH_DDP_RANK, FWBENCH_DDP_ADDRS and FWBENCH_DDP_IFNAME "
      "(docs/protocol.md)");
  auto options = std::make_shared<DdpLaunchOptions>();
  cmd->add_option("--processes", options->processes, "Rank processes")
      ->check(CLI::Range(1, 64))
      ->required();
  cmd->add_option("--hosts", options->hosts, "Hosts (network namespaces) the ranks spread over")
      ->check(CLI::Range(1, 8));
  cmd->add_option("--log-dir", options->log_dir, "Folder for the other ranks' events and logs")
      ->required();
  cmd->add_option("command", options->command, "The rank's command (after --)")->required();
  return [options]() {
    try {
      return RunDdpLaunch(*options);
    } catch (const UsageError& e) {
      // The trial's reason, as a worker would give it (main() prints it on stderr too).
      std::cout
          << nlohmann::json{{"event", "error"}, {"kind", "usage"}, {"message", e.what()}}.dump()
          << std::endl;
      throw;
    }
  };
}

}  // namespace fwbench::cli
