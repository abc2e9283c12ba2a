#include "loadgen/load_summary.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace fwbench::loadgen {

LoadSummary Summarize(const std::vector<RequestRecord>& records, const SummaryOptions& o) {
  LoadSummary s;
  s.offered_per_s = o.offered_per_s;
  std::int64_t first = std::numeric_limits<std::int64_t>::max();
  std::int64_t last = std::numeric_limits<std::int64_t>::min();
  for (const RequestRecord& r : records) {
    if (r.done_ns < r.sent_ns) {
      throw std::invalid_argument(fmt::format(
          "a request finished ({} ns) before it was sent ({} ns)", r.done_ns, r.sent_ns));
    }
    if (r.intended_ns < o.warmup_ns) continue;
    ++s.requests;
    first = std::min(first, r.intended_ns);
    last = std::max(last, r.done_ns);
    s.max_send_lag_ns = std::max(s.max_send_lag_ns, r.sent_ns - r.intended_ns);
    if (r.error.empty()) {
      ++s.ok;
      s.latency.Record(r.done_ns - r.intended_ns);
    } else {
      ++s.errors[r.error];
    }
  }
  if (s.requests > 0) {
    s.measured_s = static_cast<double>(last - first) * 1e-9;
    s.achieved_per_s = s.measured_s > 0 ? static_cast<double>(s.ok) / s.measured_s : 0.0;
  }
  if (s.measured_s < o.min_seconds) {
    s.invalid.push_back(
        fmt::format("measured {:.3g} s after the warm-up, fewer than the {:.3g} s "
                    "asked for (--duration)",
                    s.measured_s, o.min_seconds));
  }
  // A request that never connected measured nothing about the server: it does not count
  // toward the minimum, and any such request means the server was down or refusing for part of
  // the test (issue 17: a server killed mid-test was reported valid on its refused connects).
  const auto refused = s.errors.find("connect");
  const std::int64_t not_connected = refused == s.errors.end() ? 0 : refused->second;
  const std::int64_t reached = s.requests - not_connected;
  if (reached < o.min_requests) {
    s.invalid.push_back(
        not_connected == 0
            ? fmt::format("{} requests after the warm-up, fewer than the {} asked for "
                          "(--min-requests)",
                          s.requests, o.min_requests)
            : fmt::format("{} requests reached the server after the warm-up, fewer than the {} "
                          "asked for (--min-requests)",
                          reached, o.min_requests));
  }
  if (not_connected > 0) {
    s.invalid.push_back(fmt::format(
        "{} of {} requests after the warm-up could not connect ({:.1f}%): the server was down or "
        "refused connections during the test",
        not_connected, s.requests,
        100.0 * static_cast<double>(not_connected) / static_cast<double>(s.requests)));
  }
  return s;
}

nlohmann::json ToJson(const LoadSummary& s) {
  const auto ms = [&](double p) {
    return static_cast<double>(s.latency.ValueAtPercentile(p)) * 1e-6;
  };
  nlohmann::json errors = nlohmann::json::object();
  for (const auto& [kind, n] : s.errors) errors[kind] = n;
  return {{"requests", s.requests},
          {"ok", s.ok},
          {"errors", errors},
          {"measured_s", s.measured_s},
          {"offered_per_s", s.offered_per_s},
          {"achieved_per_s", s.achieved_per_s},
          {"latency_ms",
           {{"p50", ms(50)},
            {"p90", ms(90)},
            {"p99", ms(99)},
            {"p99_9", ms(99.9)},
            {"max", static_cast<double>(s.latency.max()) * 1e-6},
            {"mean", s.latency.mean() * 1e-6}}},
          {"max_send_lag_ms", static_cast<double>(s.max_send_lag_ns) * 1e-6},
          {"valid", s.invalid.empty()},
          {"invalid", s.invalid}};
}

}  // namespace fwbench::loadgen
