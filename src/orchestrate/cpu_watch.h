#pragma once
// Watches the CPU while a trial takes its steps, from /proc (docs/workers.md, "Thread pools"):
// how many cores' worth of CPU the trial itself used (a second pool that spins shows as more
// than its threads), how much other processes used, and how often more threads were runnable
// than there are cores. Fed from the orchestrator's event loop: nothing runs between samples.
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace fwbench {

class CpuWatch {
 public:
  // `cores`: the CPUs the trials may run on; `threads`: the configuration's.
  CpuWatch(int cores, int threads);

  // The window runs from the first step event to the last step event sampled (at most 10
  // samples a second, each a few /proc reads), so set-up and the parity pass stay out of it.
  void OnFirstStep(std::int64_t pid, std::int64_t now_ns);
  void OnStep(std::int64_t now_ns);

  // {"window_s", "threads", "cores", "trial_cores", "other_cores" (other processes and the
  // hypervisor's steal), "steal_cores", "runnable_samples", "runnable_over_cores"},
  // or null when the trial took no step or /proc could not be read.
  nlohmann::json Summary() const;

 private:
  struct Sample {
    std::int64_t t_ns = 0;
    double trial_cpu_s = 0.0;    // the trial process, every thread (/proc/PID/stat)
    double system_busy_s = 0.0;  // all CPUs, non-idle time (/proc/stat), steal included
    double steal_s = 0.0;        // all CPUs, time the hypervisor gave to someone else
    double self_cpu_s = 0.0;     // the orchestrator, which runs beside the trial
  };
  std::optional<Sample> Take(std::int64_t now_ns) const;

  int cores_;
  int threads_;
  bool whole_machine_;
  std::int64_t pid_ = 0;
  std::optional<Sample> first_;
  std::optional<Sample> last_;
  std::int64_t next_sample_ns_ = 0;
  int runnable_samples_ = 0;
  int runnable_over_ = 0;
};

}  // namespace fwbench
