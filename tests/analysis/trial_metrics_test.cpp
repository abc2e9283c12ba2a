#include "analysis/trial_metrics.h"

#include <gtest/gtest.h>

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

TEST(TrialMetrics, ZeroDurationStepsMakeTheTrialFailWithAReason) {
  std::vector<nlohmann::json> events = {{{"event", "hello"}, {"t_main", 3000}}};
  for (int i = 0; i < 12; ++i) {
    events.push_back({{"event", "step"}, {"i", i}, {"t0", 5000}, {"t1", 5000}, {"samples", 2}});
  }
  const TrialMetrics m = ComputeTrialMetrics(Record(), events);
  EXPECT_FALSE(m.ok);
  EXPECT_NE(m.reason.find("zero duration"), std::string::npos) << m.reason;
}

}  // namespace
}  // namespace fwbench
