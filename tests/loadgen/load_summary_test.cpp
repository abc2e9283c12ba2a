#include "loadgen/load_summary.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace fwbench::loadgen {
namespace {

constexpr std::int64_t kMs = 1'000'000;

TEST(LoadSummary, LatencyCountsFromTheIntendedSendTimeSoAStallIsChargedToEveryDelayedRequest) {
  // 1000/s for 10 s; the server stalls for 500 ms at t = 5 s: the 500 requests meant for the
  // stall all finish at 5.5 s. The generator, blocked, sends them late (as wrk would).
  std::vector<RequestRecord> records;
  for (std::int64_t i = 0; i < 10000; ++i) {
    const std::int64_t intended = i * kMs;
    RequestRecord r{intended, intended, intended + 2 * kMs, ""};
    if (intended >= 5000 * kMs && intended < 5500 * kMs) {
      r.sent_ns = 5500 * kMs;
      r.done_ns = 5500 * kMs + 2 * kMs;
    }
    records.push_back(r);
  }
  const LoadSummary s = Summarize(records, {.warmup_ns = 1000 * kMs, .offered_per_s = 1000});
  EXPECT_EQ(s.requests, 9000);
  EXPECT_EQ(s.ok, 9000);
  EXPECT_TRUE(s.invalid.empty());
  EXPECT_NEAR(s.achieved_per_s, 1000.0, 1.0);
  // 500 of 9000 requests (5.6%) waited 2–502 ms: p99 sees the stall, p90 does not.
  EXPECT_NEAR(static_cast<double>(s.latency.ValueAtPercentile(90)), 2.0 * kMs, 0.01 * kMs);
  EXPECT_GT(s.latency.ValueAtPercentile(99), 400 * kMs);
  EXPECT_NEAR(static_cast<double>(s.latency.max()), 502.0 * kMs, 1.0);
  EXPECT_EQ(s.max_send_lag_ns, 500 * kMs);
  // Measured from when the requests were sent instead, the stall would vanish: every latency
  // would be 2 ms. That is the coordinated omission this summary avoids.
}

TEST(LoadSummary, ErrorsAreCountedByKindAndATooShortTestIsMarkedInvalid) {
  std::vector<RequestRecord> records = {{0, 0, 5 * kMs, ""},
                                        {10 * kMs, 10 * kMs, 12 * kMs, "http_503"},
                                        {20 * kMs, 20 * kMs, 21 * kMs, "http_503"},
                                        {30 * kMs, 30 * kMs, 30 * kMs, "timeout"}};
  const LoadSummary s =
      Summarize(records, {.warmup_ns = 0, .min_seconds = 1.0, .min_requests = 10});
  EXPECT_EQ(s.ok, 1);
  EXPECT_EQ(s.errors.at("http_503"), 2);
  EXPECT_EQ(s.errors.at("timeout"), 1);
  ASSERT_EQ(s.invalid.size(), 2u);
  EXPECT_NE(s.invalid[0].find("fewer than the 1 s asked for"), std::string::npos) << s.invalid[0];
  EXPECT_NE(s.invalid[1].find("4 requests after the warm-up, fewer than the 10"), std::string::npos)
      << s.invalid[1];
  const auto j = ToJson(s);
  EXPECT_EQ(j["errors"]["http_503"], 2);
  EXPECT_FALSE(j["valid"].get<bool>());
  EXPECT_NEAR(j["latency_ms"]["p50"].get<double>(), 5.0, 0.01);

  records.push_back({40 * kMs, 41 * kMs, 40 * kMs, ""});
  EXPECT_THROW(Summarize(records, {}), std::invalid_argument);
}

TEST(LoadSummary, RequestsThatNeverConnectedMakeTheTestInvalidAndDoNotCountAsMeasured) {
  // A server killed mid-test: 46 answered, then only refused connects (issue 17).
  std::vector<RequestRecord> records;
  for (std::int64_t i = 0; i < 46; ++i) records.push_back({i * kMs, i * kMs, i * kMs + kMs, ""});
  for (std::int64_t i = 46; i < 10'000; ++i) {
    records.push_back({i * kMs, i * kMs, i * kMs, "connect"});
  }
  const LoadSummary s =
      Summarize(records, {.warmup_ns = 0, .min_seconds = 1.0, .min_requests = 100});
  EXPECT_EQ(s.requests, 10'000);
  EXPECT_EQ(s.errors.at("connect"), 9954);
  ASSERT_EQ(s.invalid.size(), 2u);
  EXPECT_NE(s.invalid[0].find("46 requests reached the server after the warm-up, fewer than the "
                              "100"),
            std::string::npos)
      << s.invalid[0];
  EXPECT_NE(s.invalid[1].find("9954 of 10000 requests after the warm-up could not connect "
                              "(99.5%)"),
            std::string::npos)
      << s.invalid[1];
  EXPECT_FALSE(ToJson(s)["valid"].get<bool>());
}

}  // namespace
}  // namespace fwbench::loadgen
