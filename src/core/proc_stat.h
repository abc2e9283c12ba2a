#pragma once
// Small readers of /proc for CPU accounting: the orchestrator's watch over a trial's steps and
// the doctor's look at what else keeps the machine busy.
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace fwbench {

// The first line of a file ("" when it cannot be read).
std::string ReadFirstLine(const std::string& path);
// Clock ticks (sysconf(_SC_CLK_TCK), 100 on Linux) to seconds.
double TicksToSeconds(std::int64_t ticks);
// User + system CPU time of this process, every thread (getrusage RUSAGE_SELF), in seconds.
double SelfCpuSeconds();

// A "Key:   1234 kB" field of a /proc/PID/status text, in bytes, or nullopt when absent.
std::optional<std::int64_t> ParseProcStatusBytes(const std::string& status, const std::string& key);
// The same field of a live process's /proc/PID/status ("self" for this one), or nullopt when the
// process is gone, is a zombie (its memory is released: no Vm* fields) or /proc is missing.
std::optional<std::int64_t> ProcStatusBytes(const std::string& pid, const std::string& key);

// Parses a /proc/PID/stat line: utime + stime in clock ticks, or nullopt.
std::optional<std::int64_t> ProcStatCpuTicks(const std::string& stat_line);
// Parses a /proc/PID/stat or /proc/PID/task/TID/stat line: the state letter ('R' running or
// runnable, 'S' sleeping, …), or nullopt.
std::optional<char> ProcStatState(const std::string& stat_line);
// Threads of this process in state R now (/proc/self/task): what fwbench itself adds to
// /proc/loadavg's runnable count while it reads it.
int RunningThreadsOfSelf();
// Busy (user nice system irq softirq steal; idle and iowait left out) and steal ticks.
struct CpuTicks {
  std::int64_t busy = 0;
  std::int64_t steal = 0;
};
// Parses one "cpu" or "cpuN" line of /proc/stat; `label` gets "cpu" or "cpuN". nullopt for any
// other line.
std::optional<CpuTicks> ParseCpuLine(const std::string& line, std::string& label);
// The ticks of the CPUs this process may run on (sched_getaffinity), summed over their cpuN lines
// of /proc/stat: with fwbench pinned by taskset, work on the other CPUs is none of its business.
std::optional<CpuTicks> AllowedCpuTicks();
// Whether this process may run on every CPU /proc/stat lists: /proc/loadavg's runnable count,
// which covers the whole machine, then describes the CPUs it runs on.
bool AffinityCoversAllCpus();

// The runnable scheduling entities of a /proc/loadavg text (the R of "R/T", as ParseLoadavg
// reads it), or nullopt.
std::optional<int> LoadavgRunnable(const std::string& loadavg);

// What the CPUs this process may use did over `seconds` while it slept: {"window_s",
// "other_cores" (busy cores, this process excluded; steal included), "steal_cores",
// "runnable" (median of 10 looks at the runnable threads, the reader excluded; null when fwbench
// may not use every CPU, since the count covers the whole machine), "top": [{"pid", "command",
// "cores"}] (the 3 busiest other processes, machine-wide)}, or null without /proc.
nlohmann::json SampleCpuActivity(double seconds);

}  // namespace fwbench
