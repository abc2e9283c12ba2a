#pragma once
// Runs one trial process: fresh process group, stdout read line by line, stderr to a file,
// a hard time limit, resource usage from wait4, the program's own peak memory from /proc.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace fwbench {

struct ProcessOptions {
  std::vector<std::string> argv;
  // "NAME=VALUE" entries that replace or extend the orchestrator's environment for the child.
  std::vector<std::string> env;
  std::filesystem::path stderr_path;
  double timeout_s = 300.0;
  std::size_t max_line_bytes = 1 << 20;  // a longer stdout line is garbage, not an event
  // Published as the running trial (KillRunningProcess, RunningProcessId). A batch system's
  // client command is not: Ctrl-C must not kill an sbatch whose job id is not read yet.
  bool is_trial = true;
};

struct ProcessResult {
  std::int64_t spawn_ns = 0;  // CLOCK_MONOTONIC just before fork()
  std::int64_t exit_ns = 0;   // when wait4() reaped the process
  bool started = false;
  std::string start_error;  // why exec failed, when it did
  int exit_code = -1;       // -1 when killed by a signal
  int term_signal = 0;      // 0 when it exited normally
  bool timed_out = false;
  bool stopped_by_reader = false;  // the line handler asked to stop it (protocol violation)
  bool line_too_long = false;
  // Set by an executor that ran it elsewhere: why the process ended without an exit status (its
  // machine was lost, the batch system cancelled it), in words.
  std::string lost;
  // ru_maxrss from wait4: on Linux it starts at what the child's copy of fwbench held when it
  // exec'd, so it is never below fwbench's own size. Kept for the record, not for peak memory.
  std::int64_t max_rss_bytes = 0;
  // The exec'd program's own peak (VmHWM of /proc/PID/status), sampled from its first stdout
  // line on, at most every 50 ms; 0 when never read. A lower bound when the peak came in its
  // last 50 ms, which is why workers report their own VmHWM at the end as well.
  std::int64_t peak_rss_bytes = 0;
  double user_cpu_s = 0.0;
  double sys_cpu_s = 0.0;
};

// Called for each complete stdout line (without the newline). Returning false kills the process.
using LineHandler = std::function<bool(std::string_view line)>;

ProcessResult RunProcess(const ProcessOptions& options, const LineHandler& on_line);

// Kills the process group of the trial that is running now, if any. Safe to call from a signal
// handler: the orchestrator uses it so that an interrupted run leaves no trial behind.
void KillRunningProcess();

// The pid of the trial process running now (0 when none): what the line handler may watch.
std::int64_t RunningProcessId();

std::string DescribeSignal(int signal);

}  // namespace fwbench
