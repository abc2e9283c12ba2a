#include "orchestrate/trial_monitor.h"

#include <gtest/gtest.h>

namespace fwbench {
namespace {

const char* kHello =
    R"({"event":"hello","protocol_version":1,"t_main":1,"framework":"f","framework_version":"1","backend":"b","mode":"eager","device":"cpu","threads":1,"thread_pools":[{"name":"pool","role":"compute","set":1,"read":1}]})";

// A hello of a 2-thread trial with the given thread_pools array.
std::string HelloWithPools(const std::string& pools) {
  return R"({"event":"hello","protocol_version":1,"t_main":1,"framework":"f","framework_version":"1","backend":"b","mode":"eager","device":"cpu","threads":2,"thread_pools":)" +
         pools + "}";
}

TEST(TrialMonitor, AcceptsAWellFormedTrial) {
  TrialMonitor m("t", nullptr, 1);
  EXPECT_TRUE(m.OnLine(kHello));
  EXPECT_TRUE(m.OnLine(R"({"event":"phase","name":"init","t0":1,"t2":2,"t1":3})"));
  EXPECT_TRUE(m.OnLine(R"({"event":"step","i":0,"t0":5,"t1":9,"samples":4,"loss":2.5})"));
  EXPECT_TRUE(m.OnLine(R"({"event":"step","i":1,"t0":9,"t1":12,"samples":4})"));
  EXPECT_TRUE(m.OnLine(R"({"event":"done","t":20,"steps":2})"));
  EXPECT_TRUE(m.saw_done());
  EXPECT_EQ(m.steps(), 2);
  EXPECT_FALSE(m.protocol_error().has_value());
}

struct BadCase {
  std::vector<std::string> lines;
  std::string expected;
};

TEST(TrialMonitor, RejectsProtocolViolations) {
  const std::vector<BadCase> cases = {
      {{"hello world"}, "not a JSON object"},
      {{"[1,2]"}, "not a JSON object"},
      {{R"({"event":"step","i":0,"t0":1,"t1":2,"samples":1})"}, "first event must be \"hello\""},
      {{kHello, kHello}, "second \"hello\""},
      {{kHello, R"({"event":"step","i":1,"t0":1,"t1":2,"samples":1})"}, "step 1 out of order"},
      {{kHello, R"({"event":"step","i":0,"t0":3,"t1":2,"samples":1})"}, "t1 < t0"},
      {{kHello, R"({"event":"step","i":0,"t0":1,"samples":1})"}, "needs \"t1\""},
      {{kHello, R"({"event":"step","i":0,"t0":1,"t1":2,"samples":1,"loss":"x"})"}, "non-numeric"},
      {{kHello, R"({"event":"teleport"})"}, "unknown event"},
      {{kHello, R"({"event":"done","t":1,"steps":0})",
        R"({"event":"metric","name":"x","value":1,"unit":""})"},
       "after \"done\""},
      {{R"({"event":"hello","protocol_version":9,"t_main":1,"framework":"f","framework_version":"1","backend":"b","mode":"eager","device":"cpu","threads":1,"thread_pools":[]})"},
       "protocol_version 9"},
      {{R"({"event":"hello","protocol_version":1,"t_main":1,"framework":"f","framework_version":"1","backend":"b","mode":"eager","device":"cpu","threads":1})"},
       "hello has no \"thread_pools\" array"},
  };
  for (const BadCase& c : cases) {
    TrialMonitor m("t", nullptr, 1);
    bool accepted = true;
    for (const std::string& line : c.lines) accepted = m.OnLine(line);
    EXPECT_FALSE(accepted) << c.expected;
    ASSERT_TRUE(m.protocol_error().has_value()) << c.expected;
    EXPECT_NE(m.protocol_error()->find(c.expected), std::string::npos) << *m.protocol_error();
  }
}

TEST(TrialMonitor, AcceptsOneComputePoolOfTheConfiguredThreadsAndPinnedPoolsOfOne) {
  TrialMonitor m("t", nullptr, 2);
  EXPECT_TRUE(m.OnLine(HelloWithPools(
      R"([{"name":"intra","role":"compute","set":2,"read":2},{"name":"omp","role":"compute","set":2,"read":2},{"name":"openblas","role":"pinned","set":1,"read":1}])")))
      << m.protocol_error().value_or("");
}

TEST(TrialMonitor, WithoutThreadHygieneLogsThePoolsWithoutCheckingThem) {
  TrialMonitor m("t", nullptr, 2, /*check_pools=*/false);
  EXPECT_TRUE(m.OnLine(HelloWithPools(R"([{"name":"openblas","role":"pinned","set":2,"read":2}])")))
      << m.protocol_error().value_or("");
  TrialMonitor bare("t", nullptr, 1, /*check_pools=*/false);
  EXPECT_TRUE(bare.OnLine(
      R"({"event":"hello","protocol_version":1,"t_main":1,"framework":"f","framework_version":"1","backend":"b","mode":"eager","device":"cpu","threads":1})"));
}

TEST(TrialMonitor, RefusesAHelloWhoseThreadPoolsBreakTheOnePoolRule) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"([{"name":"intra","role":"compute","set":2,"read":4}])",
       "thread pool \"intra\" was set to 2 threads but the library reports 4"},
      {R"([{"name":"intra","role":"compute","set":2,"read":2},{"name":"openblas","role":"pinned","set":1,"read":2}])",
       "thread pool \"openblas\" was set to 1 thread but the library reports 2"},
      {R"([{"name":"intra","role":"compute","set":1,"read":1}])",
       "compute thread pool \"intra\" was set to 1 thread; a trial of 2 threads sets it to 2"},
      {R"([{"name":"intra","role":"compute","set":2,"read":2},{"name":"inter","role":"pinned","set":2,"read":2}])",
       "pinned thread pool \"inter\" was set to 2 threads; a trial of 2 threads sets it to 1"},
      {R"([{"name":"openblas","role":"pinned","set":1,"read":1}])", "names no compute thread pool"},
      {R"([])", "names no compute thread pool"},
      {R"([{"name":"intra","role":"spare","set":2,"read":2}])", "role \"spare\""},
      {R"([{"name":"intra","role":"compute","set":2}])", "is not {\"name\""},
  };
  for (const auto& [pools, expected] : cases) {
    TrialMonitor m("t", nullptr, 2);
    EXPECT_FALSE(m.OnLine(HelloWithPools(pools))) << pools;
    ASSERT_TRUE(m.protocol_error().has_value()) << pools;
    EXPECT_NE(m.protocol_error()->find(expected), std::string::npos) << *m.protocol_error();
  }
  TrialMonitor other("t", nullptr, 4);
  EXPECT_FALSE(
      other.OnLine(HelloWithPools(R"([{"name":"intra","role":"compute","set":2,"read":2}])")));
  EXPECT_NE(
      other.protocol_error().value_or("").find("hello says 2 threads; the configuration runs 4"),
      std::string::npos);
}

TEST(ClassifyTrial, OrdersReasons) {
  TrialMonitor m("t", nullptr, 1);
  ASSERT_TRUE(m.OnLine(kHello));
  ProcessResult p;
  p.started = true;
  p.exit_code = 0;
  EXPECT_NE(ClassifyTrial(p, m, 10, "")->find("exited early"), std::string::npos);
  ASSERT_TRUE(m.OnLine(R"({"event":"step","i":0,"t0":1,"t1":2,"samples":1})"));
  ASSERT_TRUE(m.OnLine(R"({"event":"done","t":3,"steps":1})"));
  EXPECT_FALSE(ClassifyTrial(p, m, 10, "").has_value());
  p.exit_code = 3;
  EXPECT_NE(
      ClassifyTrial(p, m, 10, "boom")->find("exited with code 3 after 1 steps (stderr: boom)"),
      std::string::npos);
  p.timed_out = true;
  EXPECT_NE(ClassifyTrial(p, m, 10, "")->find("timed out after 10 s"), std::string::npos);
}

}  // namespace
}  // namespace fwbench
