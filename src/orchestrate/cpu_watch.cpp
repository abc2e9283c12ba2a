#include "orchestrate/cpu_watch.h"

#include <filesystem>
#include <fstream>

#include "core/clock.h"
#include "core/proc_stat.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <random>
#include <string>
#include <vector>

namespace fwbench {

namespace {

// CPU ticks of `pid` and every process below it (a data-parallel trial's ranks, a compiler a
// worker starts), from /proc/PID/task/*/children; a process that ended in between is skipped.
std::optional<std::int64_t> TreeCpuTicks(std::int64_t pid, int depth = 0) {
  const std::string dir = "/proc/" + std::to_string(pid);
  auto total = ProcStatCpuTicks(ReadFirstLine(dir + "/stat"));
  if (!total || depth > 8) return total;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(dir + "/task", ec)) {
    std::ifstream children(task.path() / "children");
    std::int64_t child = 0;
    while (children >> child) {
      if (auto ticks = TreeCpuTicks(child, depth + 1)) *total += *ticks;
    }
  }
  return total;
}

}  // namespace

CpuWatch::CpuWatch(int cores, int threads)
    : cores_(cores), threads_(threads), whole_machine_(AffinityCoversAllCpus()) {}

CpuWatch::~CpuWatch() { StopSampler(); }

std::optional<CpuWatch::Sample> CpuWatch::Take(std::int64_t now_ns) const {
  const auto trial = TreeCpuTicks(pid_);
  const auto cpus = AllowedCpuTicks();
  if (!trial || !cpus) return std::nullopt;
  return Sample{now_ns, TicksToSeconds(*trial), TicksToSeconds(cpus->busy),
                TicksToSeconds(cpus->steal), SelfCpuSeconds()};
}

void CpuWatch::OnFirstStep(std::int64_t pid, std::int64_t now_ns) {
  pid_ = pid;
  first_ = Take(now_ns);
  next_sample_ns_ = now_ns + 100'000'000;
  // /proc/loadavg counts the whole machine: meaningful only when the trials may use all of it.
  if (first_ && whole_machine_ && !sampler_.joinable()) {
    sampler_ = std::jthread([this](const std::stop_token& stop) { SampleRunnable(stop); });
  }
}

void CpuWatch::OnStep(std::int64_t now_ns) {
  if (!first_ || now_ns < next_sample_ns_) return;
  next_sample_ns_ = now_ns + 100'000'000;
  if (auto sample = Take(now_ns)) last_ = sample;
}

void CpuWatch::SampleRunnable(const std::stop_token& stop) {
  // 40–60 ms apart at random, so the looks fall at no fixed phase of a periodic step.
  std::minstd_rand random(static_cast<std::uint32_t>(MonotonicNs()));
  std::uniform_int_distribution<int> gap_ms(40, 60);
  std::mutex sleep_mutex;
  std::condition_variable_any wake;
  while (!stop.stop_requested()) {
    {
      std::unique_lock lock(sleep_mutex);
      wake.wait_for(lock, stop, std::chrono::milliseconds(gap_ms(random)), [] { return false; });
    }
    if (stop.stop_requested()) break;
    const auto r = LoadavgRunnable(ReadFirstLine("/proc/loadavg"));
    if (!r) continue;
    // This thread is running while it reads; so may the event loop be, handling a line.
    const int others = *r - std::max(1, RunningThreadsOfSelf());
    std::lock_guard lock(mutex_);
    runnable_.push_back({MonotonicNs(), others > cores_});
  }
}

void CpuWatch::StopSampler() {
  if (!sampler_.joinable()) return;
  sampler_.request_stop();
  sampler_.join();
}

nlohmann::json CpuWatch::Summary() {
  StopSampler();
  if (!first_ || !last_) return nullptr;
  const double window = static_cast<double>(last_->t_ns - first_->t_ns) * 1e-9;
  // CPU time comes in 10 ms ticks: over a quarter second that is ±0.04 cores per tick, below
  // it the figures would mostly be rounding.
  if (window < 0.25) return nullptr;
  const double trial = (last_->trial_cpu_s - first_->trial_cpu_s) / window;
  const double self = (last_->self_cpu_s - first_->self_cpu_s) / window;
  const double busy = (last_->system_busy_s - first_->system_busy_s) / window;
  int samples = 0;
  int over = 0;
  {
    // Looks taken after the last step sampled fall in the parity pass or the exit: left out.
    std::lock_guard lock(mutex_);
    for (const RunnableSample& s : runnable_) {
      if (s.t_ns > last_->t_ns) continue;
      ++samples;
      over += s.over ? 1 : 0;
    }
  }
  return {{"window_s", window},
          {"threads", threads_},
          {"cores", cores_},
          {"trial_cores", trial},
          {"other_cores", std::max(0.0, busy - trial - self)},
          {"steal_cores", (last_->steal_s - first_->steal_s) / window},
          {"runnable_samples", samples},
          {"runnable_over_cores", over}};
}

}  // namespace fwbench
