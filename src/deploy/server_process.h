#pragma once
// A server under test as a child process: its own process group, output to a log file, its
// memory read from /proc, stopped with SIGTERM (then SIGKILL after a grace period).
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/free_port.h"

namespace fwbench::deploy {

class ServerProcess {
 public:
  // Throws std::runtime_error when the program cannot be started.
  ServerProcess(const std::vector<std::string>& argv, const std::filesystem::path& log,
                const std::vector<std::pair<std::string, std::string>>& env = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const { return pid_; }
  // False once it has exited (then exit_code() says how).
  bool Running();
  // Over its process group (the server and the processes it started): resident memory now, and
  // the sum of each process's own peak (VmHWM), an upper bound of the group's peak. 0 when
  // unreadable.
  std::int64_t RssBytes() const;
  std::int64_t PeakRssBytes() const;
  // SIGTERM, then waits up to `grace_s`; SIGKILL after that. Returns the exit code (128+signal
  // when killed by one).
  int Stop(double grace_s);
  int exit_code() const { return exit_code_; }
  // The last `bytes` of its log, for error messages.
  std::string LogTail(std::size_t bytes = 2000) const;

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  bool exited_ = false;
  std::filesystem::path log_;
};

// A port nobody listens on right now (core/free_port.h).
using ::fwbench::FreeLoopbackPort;

}  // namespace fwbench::deploy
