#pragma once
// The load itself: many keep-alive connections on a few threads (one epoll loop each), in
// a closed loop (every connection sends its next request when the last one is answered) or an
// open loop (requests are due at the times an ArrivalSchedule sets, whether or not the server
// kept up; a request that finds no free connection waits, and its latency still counts from
// when it was due — no coordinated omission).
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "loadgen/arrival_schedule.h"
#include "loadgen/http_client.h"
#include "loadgen/load_summary.h"

namespace fwbench::loadgen {

// One request as Fetch sends it, and the server it goes to.
struct LoadRequest : HttpCall {
  Url server;
};

struct LoadOptions {
  bool open_loop = false;
  double rate_per_s = 0.0;  // open loop
  ArrivalSchedule::Kind arrival = ArrivalSchedule::Kind::kConstant;
  std::uint64_t seed = 1;
  int connections = 16;  // closed loop: concurrency; open loop: the most in flight at once
  int threads = 1;
  double warmup_s = 1.0;
  double duration_s = 10.0;  // measured, after the warm-up
  double timeout_s = 10.0;   // per request
  // Poll for this long before a thread sleeps. A sleeping generator costs the server a wake-up
  // per answer (measured: the server saturated by fwbench serve's health endpoint answered 7%
  // more requests/s to a generator that polled 50 µs); polling costs the generator's core.
  std::int64_t spin_ns = 0;
  // Closed loop: stop after this many requests in all (0: no limit; the duration still ends it).
  std::int64_t max_requests = 0;
  // Called about once a second from the caller's thread with requests done so far.
  std::function<void(double elapsed_s, std::int64_t done)> progress;
};

// The serialized request, as sent on every connection.
std::string SerializeRequest(const LoadRequest& request);

// Runs the load and returns one record per request sent (times in ns from the start). Throws
// UsageError when the host does not resolve; a refused connection shows in the records as
// "connect" errors.
std::vector<RequestRecord> RunLoad(const LoadRequest& request, const LoadOptions& options);

}  // namespace fwbench::loadgen
