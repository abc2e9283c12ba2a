#include "orchestrate/cpu_watch.h"

#include "core/proc_stat.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fwbench {

namespace {

double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

}  // namespace

CpuWatch::CpuWatch(int cores, int threads)
    : cores_(cores), threads_(threads), whole_machine_(AffinityCoversAllCpus()) {}

std::optional<CpuWatch::Sample> CpuWatch::Take(std::int64_t now_ns) const {
  const auto trial = ProcStatCpuTicks(ReadFirstLine("/proc/" + std::to_string(pid_) + "/stat"));
  const auto cpus = AllowedCpuTicks();
  if (!trial || !cpus) return std::nullopt;
  return Sample{now_ns, TicksToSeconds(*trial), TicksToSeconds(cpus->busy),
                TicksToSeconds(cpus->steal), SelfCpuSeconds()};
}

void CpuWatch::OnFirstStep(std::int64_t pid, std::int64_t now_ns) {
  pid_ = pid;
  first_ = Take(now_ns);
  next_sample_ns_ = now_ns + 100'000'000;
}

void CpuWatch::OnStep(std::int64_t now_ns) {
  if (!first_ || now_ns < next_sample_ns_) return;
  next_sample_ns_ = now_ns + 100'000'000;
  if (auto sample = Take(now_ns)) last_ = sample;
  // /proc/loadavg counts the whole machine: meaningful only when the trials may use all of it.
  if (!whole_machine_) return;
  if (const auto r = LoadavgRunnable(ReadFirstLine("/proc/loadavg"))) {
    ++runnable_samples_;
    // The orchestrator's own thread is running while it reads.
    if (*r - 1 > cores_) ++runnable_over_;
  }
}

nlohmann::json CpuWatch::Summary() const {
  if (!first_ || !last_) return nullptr;
  const double window = static_cast<double>(last_->t_ns - first_->t_ns) * 1e-9;
  // CPU time comes in 10 ms ticks: over a quarter second that is ±0.04 cores per tick, below
  // it the figures would mostly be rounding.
  if (window < 0.25) return nullptr;
  const double trial = (last_->trial_cpu_s - first_->trial_cpu_s) / window;
  const double self = (last_->self_cpu_s - first_->self_cpu_s) / window;
  const double busy = (last_->system_busy_s - first_->system_busy_s) / window;
  return {{"window_s", window},
          {"threads", threads_},
          {"cores", cores_},
          {"trial_cores", trial},
          {"other_cores", std::max(0.0, busy - trial - self)},
          {"steal_cores", (last_->steal_s - first_->steal_s) / window},
          {"runnable_samples", runnable_samples_},
          {"runnable_over_cores", runnable_over_}};
}

}  // namespace fwbench
