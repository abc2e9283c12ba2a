#pragma once
// The launcher of a data-parallel trial (task train_ddp): one trial, N rank processes. Rank 0
// speaks the trial protocol on the launcher's own stdout; the other ranks' events and logs go to
// files in the trial's folder. Hosts are network namespaces of this machine joined by a virtual
// switch, so that ranks on different "hosts" talk over a network link, not loopback.
#include <filesystem>
#include <string>
#include <vector>

namespace fwbench {

struct DdpLaunchOptions {
  int processes = 1;
  int hosts = 1;
  std::vector<std::string> command;  // every rank's argv
  std::filesystem::path log_dir;     // rank<R>.stdout.jsonl and rank<R>.stderr.log for R >= 1
};

// Where rank `rank` of `processes` runs: hosts take consecutive blocks of ranks.
int DdpHostOfRank(int rank, int processes, int hosts);

// Empty when this machine can make `hosts` network namespaces (root, iproute2); else why not.
std::string DdpHostsUnavailableReason(int hosts);

// Starts the ranks, waits for all of them, and returns the trial's exit code: rank 0's, or,
// when another rank fails first, 1 after an error event naming that rank and its last stderr
// line (the remaining ranks are killed: a collective without every rank never returns).
int RunDdpLaunch(const DdpLaunchOptions& options);

}  // namespace fwbench
