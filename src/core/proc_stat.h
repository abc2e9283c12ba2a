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

// Parses a /proc/PID/stat line: utime + stime in clock ticks, or nullopt.
std::optional<std::int64_t> ProcStatCpuTicks(const std::string& stat_line);
// Parses /proc/stat's first line: non-idle ticks of all CPUs (user nice system irq softirq
// steal), or nullopt.
std::optional<std::int64_t> ProcStatBusyTicks(const std::string& cpu_line);
// The steal ticks of that line: time a hypervisor ran something else on this VM's CPUs.
std::optional<std::int64_t> ProcStatStealTicks(const std::string& cpu_line);
// Parses /proc/loadavg: the runnable scheduling entities (the R of "R/T"), or nullopt.
std::optional<int> LoadavgRunnable(const std::string& loadavg);

// What the machine's CPUs did over `seconds` while this process slept: {"window_s",
// "other_cores" (busy cores, this process excluded), "runnable" (runnable threads at the end,
// the reader excluded), "top": [{"pid", "command", "cores"}] (the 3 busiest other processes)},
// or null without /proc.
nlohmann::json SampleCpuActivity(double seconds);

}  // namespace fwbench
