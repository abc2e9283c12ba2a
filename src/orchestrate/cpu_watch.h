#pragma once
// Watches the CPU while a trial takes its steps, from /proc (docs/workers.md, "Thread pools"):
// how many cores' worth of CPU the trial itself used (a second pool that spins shows as more
// than its threads), how much other processes used, and how often more threads were runnable
// than there are cores. CPU times are read at step events (they are totals, so when they are
// read does not bias them); the runnable count is an instant, so a thread of its own samples
// it at jittered times: read at step events it caught a worker's threads handing a step over
// and called JAX at 1 thread oversubscribed in 43% of samples, against 3% from a timer.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace fwbench {

class CpuWatch {
 public:
  // `cores`: the CPUs the trials may run on; `threads`: the configuration's.
  CpuWatch(int cores, int threads);
  ~CpuWatch();
  CpuWatch(const CpuWatch&) = delete;
  CpuWatch& operator=(const CpuWatch&) = delete;

  // The window runs from the first step event to the last step event sampled (at most 10
  // samples a second, each a few /proc reads), so set-up and the parity pass stay out of it.
  void OnFirstStep(std::int64_t pid, std::int64_t now_ns);
  void OnStep(std::int64_t now_ns);

  // Stops the runnable sampler. {"window_s", "threads", "cores", "trial_cores", "other_cores"
  // (other processes and the hypervisor's steal), "steal_cores", "runnable_samples",
  // "runnable_over_cores"}, or null when the trial took no step or /proc could not be read.
  nlohmann::json Summary();

 private:
  struct Sample {
    std::int64_t t_ns = 0;
    double trial_cpu_s = 0.0;    // the trial process, every thread (/proc/PID/stat)
    double system_busy_s = 0.0;  // all CPUs, non-idle time (/proc/stat), steal included
    double steal_s = 0.0;        // all CPUs, time the hypervisor gave to someone else
    double self_cpu_s = 0.0;     // the orchestrator, which runs beside the trial
  };
  struct RunnableSample {
    std::int64_t t_ns = 0;
    bool over = false;  // more threads runnable than cores, fwbench's own left out
  };
  std::optional<Sample> Take(std::int64_t now_ns) const;
  void SampleRunnable(const std::stop_token& stop);
  void StopSampler();

  int cores_;
  int threads_;
  bool whole_machine_;
  std::int64_t pid_ = 0;
  std::optional<Sample> first_;
  std::optional<Sample> last_;
  std::int64_t next_sample_ns_ = 0;
  std::mutex mutex_;
  std::vector<RunnableSample> runnable_;  // guarded by mutex_
  std::jthread sampler_;
};

}  // namespace fwbench
