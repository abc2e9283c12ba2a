#include "loadgen/load_threads.h"

#include <algorithm>
#include <exception>
#include <thread>

#include "core/error.h"

namespace fwbench::loadgen {

LoadPlan PlanLoad(const LoadOptions& options) {
  if (options.connections < 1 || options.threads < 1) {
    throw UsageError("--connections and --threads must be at least 1");
  }
  if (options.open_loop && !(options.rate_per_s > 0)) {
    throw UsageError("an open-loop test needs --rate above 0 (requests per second)");
  }
  LoadPlan plan;
  plan.end_ns = static_cast<std::int64_t>((options.warmup_s + options.duration_s) * 1e9);
  plan.threads = std::min(options.threads, options.connections);
  for (int t = 0; t < plan.threads; ++t) {
    plan.connections.push_back(options.connections / plan.threads +
                               (t < options.connections % plan.threads ? 1 : 0));
  }
  plan.arrivals.resize(static_cast<std::size_t>(plan.threads));
  if (options.open_loop) {
    ArrivalSchedule schedule(options.arrival, options.rate_per_s, options.seed);
    std::size_t i = 0;
    for (std::int64_t t = schedule.Next(); t < plan.end_ns; t = schedule.Next(), ++i) {
      plan.arrivals[i % plan.arrivals.size()].push_back(t);
    }
  }
  return plan;
}

void RunOnThreads(const std::vector<std::function<void()>>& runs, const LoadOptions& options,
                  std::chrono::steady_clock::time_point start,
                  const std::atomic<std::int64_t>& done) {
  using Clock = std::chrono::steady_clock;
  // jthreads: should anything below throw, the workers are joined, not left running to
  // std::terminate.
  std::vector<std::jthread> pool;
  std::atomic<int> running{static_cast<int>(runs.size())};
  std::vector<std::exception_ptr> failures(runs.size());
  for (std::size_t i = 0; i < runs.size(); ++i) {
    pool.emplace_back([&, i] {
      try {
        runs[i]();
      } catch (...) {
        failures[i] = std::current_exception();
      }
      --running;
    });
  }
  auto last = Clock::now();
  while (running.load() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (options.progress && Clock::now() - last >= std::chrono::seconds(1)) {
      last = Clock::now();
      options.progress(std::chrono::duration<double>(Clock::now() - start).count(), done.load());
    }
  }
  for (auto& t : pool) t.join();
  for (const auto& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
}

std::vector<RequestRecord> MergeRecords(const std::vector<std::deque<RequestRecord>*>& records) {
  std::vector<RequestRecord> all;
  for (const auto* r : records) all.insert(all.end(), r->begin(), r->end());
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a.intended_ns < b.intended_ns; });
  return all;
}

}  // namespace fwbench::loadgen
