#pragma once
// The one clock of the trial protocol: CLOCK_MONOTONIC in nanoseconds. std::chrono::steady_clock
// is CLOCK_MONOTONIC on Linux, Python's time.monotonic_ns() and Node's process.hrtime.bigint()
// read the same clock, so an orchestrator can subtract its own spawn time from a worker's stamps.
#include <cstdint>
#include <ctime>

namespace fwbench {

inline std::int64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000LL + ts.tv_nsec;
}

}  // namespace fwbench
