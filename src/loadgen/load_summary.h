#pragma once
// What one load test measured, from the record of every request (issue 7): latency from the
// intended send time (so a stalled server is charged for the requests it delayed), achieved vs
// offered rate, errors by kind, the warm-up excluded, and whether the test ran long enough to
// mean anything.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loadgen/latency_histogram.h"

namespace fwbench::loadgen {

struct RequestRecord {
  std::int64_t intended_ns = 0;  // when the schedule meant to send it (closed loop: when sent)
  std::int64_t sent_ns = 0;
  std::int64_t done_ns = 0;
  std::string error;  // empty: success; else a kind: "http_503", "timeout", "connect", …
};

struct SummaryOptions {
  std::int64_t warmup_ns = 1'000'000'000;  // requests intended before this are left out
  double offered_per_s = 0.0;              // 0: closed loop (no offered rate)
  double min_seconds = 5.0;                // measured span below this: not valid
  std::int64_t min_requests = 100;         // measured requests below this: not valid
};

struct LoadSummary {
  std::int64_t requests = 0;  // measured (after warm-up)
  std::int64_t ok = 0;
  std::map<std::string, std::int64_t> errors;  // kind → count
  double measured_s = 0.0;  // first intended → last done, of the measured requests
  double offered_per_s = 0.0;
  double achieved_per_s = 0.0;       // successful requests / measured_s
  LatencyHistogram latency;          // successful requests, done − intended
  std::int64_t max_send_lag_ns = 0;  // how late the generator itself sent (sent − intended)
  std::vector<std::string> invalid;  // why the test does not count; empty when it does
};

// Records need not be sorted. Throws std::invalid_argument for a record that ends before it
// was sent.
LoadSummary Summarize(const std::vector<RequestRecord>& records, const SummaryOptions& options);

// p50, p90, p99, p99.9, max (ms), rates, errors, validity.
nlohmann::json ToJson(const LoadSummary& summary);

}  // namespace fwbench::loadgen
