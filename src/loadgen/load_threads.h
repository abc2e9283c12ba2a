#pragma once
// What every load (HTTP's epoll workers, gRPC's channels) does around its workers: check the
// options, share the connections and the open loop's arrivals among the threads, run one worker
// per thread while reporting progress, and merge the records in intended-time order.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "loadgen/load_runner.h"
#include "loadgen/load_summary.h"

namespace fwbench::loadgen {

struct LoadPlan {
  std::int64_t end_ns = 0;                          // warm-up + duration, from the start
  int threads = 1;                                  // min(threads, connections)
  std::vector<int> connections;                     // each thread's share
  std::vector<std::vector<std::int64_t>> arrivals;  // open loop: each thread's intended times
};

// Throws UsageError for fewer than one connection or thread, or an open loop without a rate.
LoadPlan PlanLoad(const LoadOptions& options);

// Runs each of `runs` on a thread of its own until all returned, calling options.progress about
// once a second with `done`; then rethrows the first worker's exception, if any.
void RunOnThreads(const std::vector<std::function<void()>>& runs, const LoadOptions& options,
                  std::chrono::steady_clock::time_point start,
                  const std::atomic<std::int64_t>& done);

// Every worker's records, sorted by intended send time.
std::vector<RequestRecord> MergeRecords(const std::vector<std::deque<RequestRecord>*>& records);

}  // namespace fwbench::loadgen
