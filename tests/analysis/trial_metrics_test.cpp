#include "analysis/trial_metrics.h"

#include <gtest/gtest.h>

#include "analysis/config_summary.h"

namespace fwbench {
namespace {

nlohmann::json Record() {
  return {{"trial", "t"},   {"config", "c"},    {"task", "infer"}, {"batch_size", 2},
          {"status", "ok"}, {"spawn_ns", 1000}, {"exit_ns", 90000}};
}

TEST(TrialMetrics, TimeToFirstBatchPhasesAddUpAndRepeatedPhasesAreSummed) {
  const std::vector<nlohmann::json> events = {
      {{"event", "hello"}, {"t_main", 3000}},
      {{"event", "phase"}, {"name", "compile"}, {"t0", 4000}, {"t1", 5000}},
      {{"event", "phase"}, {"name", "compile"}, {"t0", 6000}, {"t1", 8000}},
      {{"event", "step"}, {"i", 0}, {"t0", 9000}, {"t1", 12000}, {"samples", 2}},
      {{"event", "step"}, {"i", 1}, {"t0", 12000}, {"t1", 13000}, {"samples", 2}},
  };
  const TrialMetrics m = ComputeTrialMetrics(Record(), events);
  EXPECT_DOUBLE_EQ(m.ttfb_s, 11000e-9);
  ASSERT_EQ(m.phases_s.size(), 4u);  // exec, compile, first_step, other
  EXPECT_EQ(m.phases_s[0].first, "exec");
  EXPECT_DOUBLE_EQ(m.phases_s[0].second, 2000e-9);
  EXPECT_EQ(m.phases_s[1].first, "compile");
  EXPECT_DOUBLE_EQ(m.phases_s[1].second, 3000e-9);
  EXPECT_DOUBLE_EQ(m.phases_s[2].second, 3000e-9);
  double sum = 0;
  for (const auto& [name, s] : m.phases_s) sum += s;
  EXPECT_NEAR(sum, m.ttfb_s, 1e-15);
  EXPECT_TRUE(m.ok);
}

TEST(TrialMetrics, PeakRssIsTheTrialsOwnWhereTheRecordHasIt) {
  const std::vector<nlohmann::json> events = {
      {{"event", "metric"}, {"name", "peak_rss_bytes"}, {"value", 70e6}, {"unit", "bytes"}}};
  nlohmann::json record = Record();
  record["max_rss_bytes"] = 500'000'000;  // wait4's, floored at fwbench's size
  record["peak_rss_bytes"] = 60'000'000;  // the orchestrator's VmHWM samples
  // The worker's own VmHWM at its end is later than the last sample.
  EXPECT_DOUBLE_EQ(ComputeTrialMetrics(record, events).peak_rss_bytes, 70e6);
  record["peak_rss_bytes"] = 80'000'000;
  EXPECT_DOUBLE_EQ(ComputeTrialMetrics(record, events).peak_rss_bytes, 80e6);
  // A record written before the samples existed keeps the figure it was analysed with then.
  record.erase("peak_rss_bytes");
  EXPECT_DOUBLE_EQ(ComputeTrialMetrics(record, events).peak_rss_bytes, 500e6);
}

TEST(TrialMetrics, ZeroDurationStepsMakeTheTrialFailWithAReason) {
  std::vector<nlohmann::json> events = {{{"event", "hello"}, {"t_main", 3000}}};
  for (int i = 0; i < 12; ++i) {
    events.push_back({{"event", "step"}, {"i", i}, {"t0", 5000}, {"t1", 5000}, {"samples", 2}});
  }
  const TrialMetrics m = ComputeTrialMetrics(Record(), events);
  EXPECT_FALSE(m.ok);
  EXPECT_NE(m.reason.find("zero duration"), std::string::npos) << m.reason;
}

// Generation steps of 2 sequences: 8 prompt tokens each (16 prefilled), 4 new tokens each
// (8 generated, 2 of them by the prefill). Prefill takes 4 µs, decoding 6 µs, every step.
std::vector<nlohmann::json> GenerationEvents() {
  std::vector<nlohmann::json> events = {{{"event", "hello"}, {"t_main", 1500}}};
  for (int i = 0; i < 15; ++i) {
    const std::int64_t t0 = 10000 + i * 10000;
    events.push_back({{"event", "step"},
                      {"i", i},
                      {"t0", t0},
                      {"t1", t0 + 10000},
                      {"samples", 2},
                      {"tokens", 8},
                      {"prompt_tokens", 16},
                      {"t_first_token", t0 + 4000}});
  }
  return events;
}

TEST(TrialMetrics, GenerationStepsGiveTimeToFirstTokenPrefillAndDecodeRates) {
  const TrialMetrics m = ComputeTrialMetrics(Record(), GenerationEvents());
  ASSERT_TRUE(m.ok) << m.reason;
  EXPECT_DOUBLE_EQ(m.tokens_per_step, 8);
  EXPECT_DOUBLE_EQ(m.prompt_tokens_per_step, 16);
  ASSERT_EQ(m.ttft_s.size(), 15u);
  EXPECT_EQ(m.steady_ttft_s.size(), m.steady_step_s.size());

  const ConfigSummary s = SummarizeConfig("c", "infer", 2, {m, m, m}, 0.1);
  EXPECT_NEAR(s.metrics.at("tokens_per_s").estimate.value, 8 / 10e-6, 1e-3);
  EXPECT_NEAR(s.metrics.at("ttft_ms").estimate.value, 4e-3, 1e-12);
  EXPECT_NEAR(s.metrics.at("prefill_tokens_per_s").estimate.value, 16 / 4e-6, 1e-3);
  // 8 generated − 2 from the prefill = 6 decoded in 6 µs.
  EXPECT_NEAR(s.metrics.at("decode_tokens_per_s").estimate.value, 6 / 6e-6, 1e-3);
}

TEST(TrialMetrics, TrainingTokensPerSecondFollowStepTimesAndImageStepsHaveNone) {
  std::vector<nlohmann::json> events = {{{"event", "hello"}, {"t_main", 1500}}};
  for (int i = 0; i < 12; ++i) {
    events.push_back({{"event", "step"},
                      {"i", i},
                      {"t0", 10000 + i * 5000},
                      {"t1", 15000 + i * 5000},
                      {"samples", 4},
                      {"loss", 2.0},
                      {"tokens", 256}});
  }
  nlohmann::json record = Record();
  record["task"] = "train";
  const TrialMetrics m = ComputeTrialMetrics(record, events);
  const ConfigSummary s = SummarizeConfig("c", "train", 4, {m, m}, 0.1);
  EXPECT_NEAR(s.metrics.at("tokens_per_s").estimate.value, 256 / 5e-6, 1e-3);
  EXPECT_FALSE(s.metrics.contains("ttft_ms"));

  const std::vector<nlohmann::json> image = {
      {{"event", "step"}, {"i", 0}, {"t0", 9000}, {"t1", 12000}, {"samples", 2}},
      {{"event", "step"}, {"i", 1}, {"t0", 12000}, {"t1", 13000}, {"samples", 2}}};
  const TrialMetrics plain = ComputeTrialMetrics(Record(), image);
  EXPECT_FALSE(SummarizeConfig("c", "infer", 2, {plain}, 0.1).metrics.contains("tokens_per_s"));
}

// Trials with the orchestrator's CPU watch (orchestrate/cpu_watch.h) of 2 threads on 2 cores.
std::vector<TrialMetrics> Watched(double trial_cores, double other_cores, int over, double steal) {
  TrialMetrics t;
  t.cpu_during_steps = {{"window_s", 2.0},
                        {"threads", 2},
                        {"cores", 2},
                        {"trial_cores", trial_cores},
                        {"other_cores", other_cores},
                        {"steal_cores", steal},
                        {"runnable_samples", 20},
                        {"runnable_over_cores", over}};
  return {t, t, t};
}

TEST(OversubscriptionWarnings, NamesEachKindOfOversubscriptionAndNothingOnAQuietMachine) {
  EXPECT_TRUE(OversubscriptionWarnings(Watched(1.98, 0.05, 2, 0.0)).empty());
  EXPECT_TRUE(OversubscriptionWarnings({TrialMetrics{}}).empty());  // no watch: no claim

  auto w = OversubscriptionWarnings(Watched(2.9, 0.05, 0, 0.0));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("kept 2.9 cores busy during their steps with 2 threads"), std::string::npos)
      << w[0];

  w = OversubscriptionWarnings(Watched(1.9, 0.05, 6, 0.0));  // 6 of 20 samples
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("more threads were runnable than the 2 cores in 30%"), std::string::npos)
      << w[0];

  w = OversubscriptionWarnings(Watched(1.5, 0.6, 0, 0.4));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("other processes kept 0.60 cores busy"), std::string::npos) << w[0];
  EXPECT_NE(w[0].find("0.40 of it stolen by the hypervisor"), std::string::npos) << w[0];

  // The warnings reach the configuration's summary.
  TrialMetrics m = ComputeTrialMetrics(Record(), GenerationEvents());
  ASSERT_TRUE(m.ok) << m.reason;
  m.cpu_during_steps = Watched(2.9, 0.6, 0, 0.0)[0].cpu_during_steps;
  const ConfigSummary s = SummarizeConfig("c", "infer", 2, {m, m, m}, 0.1);
  int oversubscribed = 0;
  for (const std::string& warning : s.warnings)
    oversubscribed += warning.find("cores busy") != std::string::npos;
  EXPECT_EQ(oversubscribed, 2) << nlohmann::json(s.warnings).dump();
}

}  // namespace
}  // namespace fwbench
