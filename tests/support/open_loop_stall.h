#pragma once
// The open-loop check both load generators pass (HTTP: load_runner_test, gRPC: grpc_load_test):
// 100/s for 1 s on one connection while the model stalls once for 400 ms. Every request keeps
// its intended send time, and the stall is charged, from those times, to every request it held
// up (~40 of them), not only to the one that met it.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "loadgen/arrival_schedule.h"
#include "loadgen/load_runner.h"
#include "loadgen/load_summary.h"
#include "support/serve_fixture.h"

namespace fwbench::testing {

inline void ExpectOpenLoopChargesAStallToEveryDelayedRequest(
    DoublingModel& model,
    const std::function<std::vector<loadgen::RequestRecord>(const loadgen::LoadOptions&)>& run) {
  loadgen::LoadOptions o;
  o.open_loop = true;
  o.rate_per_s = 100;
  o.connections = 1;  // one connection: a slow answer delays everything behind it
  o.warmup_s = 0;
  o.duration_s = 1.0;
  std::thread stall([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    model.delay_ms = 400;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    model.delay_ms = 0;
  });
  const auto records = run(o);
  stall.join();
  ASSERT_EQ(records.size(), 100u) << "100/s for 1 s";
  loadgen::ArrivalSchedule schedule(loadgen::ArrivalSchedule::Kind::kConstant, 100, 1);
  for (const auto& r : records) {
    EXPECT_EQ(r.intended_ns, schedule.Next());
    EXPECT_EQ(r.error, "");
  }
  loadgen::SummaryOptions so;
  so.warmup_ns = 0;
  so.offered_per_s = 100;
  so.min_seconds = 0.5;
  so.min_requests = 50;
  const loadgen::LoadSummary summary = loadgen::Summarize(records, so);
  // From their intended times the held-up requests waited hundreds of ms; from their send times
  // it would be ~1 ms.
  EXPECT_GT(summary.latency.max(), 350'000'000);
  EXPECT_GT(summary.latency.ValueAtPercentile(90), 50'000'000);
  EXPECT_LE(std::count_if(records.begin(), records.end(),
                          [](const loadgen::RequestRecord& r) {
                            return r.done_ns - r.sent_ns > 350'000'000;
                          }),
            1)
      << "only the stalled request itself was slow once sent";
}

}  // namespace fwbench::testing
