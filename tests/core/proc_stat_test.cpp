#include "core/proc_stat.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

namespace fwbench {
namespace {

TEST(ProcStat, CpuTicksOfAProcessCountFromTheLastParenthesis) {
  // A command name with spaces and a ')' inside: fields are counted after the last ')'.
  const std::string line =
      "4242 (my (odd) name) R 1 4242 4242 0 -1 4194304 100 0 0 0 1234 56 0 0 20 0 3 0 999 0 0";
  EXPECT_EQ(ProcStatCpuTicks(line), 1234 + 56);
  EXPECT_FALSE(ProcStatCpuTicks("4242 (x) R 1 2").has_value());
  EXPECT_FALSE(ProcStatCpuTicks("no parenthesis").has_value());
  // This process's own line parses.
  EXPECT_TRUE(ProcStatCpuTicks(ReadFirstLine("/proc/self/stat")).has_value());
}

TEST(ProcStat, StateOfAThreadCountsFromTheLastParenthesis) {
  EXPECT_EQ(ProcStatState("4242 (my (odd) S name) R 1 4242"), 'R');
  EXPECT_EQ(ProcStatState("17 (kworker) S 2 0"), 'S');
  EXPECT_FALSE(ProcStatState("17 (x)").has_value());
  EXPECT_FALSE(ProcStatState("17 (x) 5 2").has_value());
  EXPECT_FALSE(ProcStatState("no parenthesis").has_value());
  // The thread that reads is running while it reads.
  EXPECT_EQ(ProcStatState(ReadFirstLine("/proc/thread-self/stat")), 'R');
  EXPECT_GE(RunningThreadsOfSelf(), 1);
}

TEST(ProcStat, BusyAndStealTicksOfACpuLine) {
  std::string label;
  const auto all = ParseCpuLine("cpu  100 2 30 5000 40 5 6 7 0 0", label);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(label, "cpu");
  EXPECT_EQ(all->busy, 100 + 2 + 30 + 5 + 6 + 7);  // idle and iowait left out
  EXPECT_EQ(all->steal, 7);
  const auto one = ParseCpuLine("cpu1 1 2 3 4 5 6 7 8 9 10", label);
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(label, "cpu1");
  EXPECT_EQ(one->busy, 1 + 2 + 3 + 6 + 7 + 8);
  EXPECT_FALSE(ParseCpuLine("cpu 1 2 3", label).has_value());
  EXPECT_FALSE(ParseCpuLine("intr 1 2 3 4 5 6 7 8", label).has_value());
  EXPECT_FALSE(ParseCpuLine("cpux 1 2 3 4 5 6 7 8", label).has_value());
  // This machine's CPUs that fwbench may use add up.
  EXPECT_TRUE(AllowedCpuTicks().has_value());
}

TEST(ProcStat, RunnableFromLoadavg) {
  EXPECT_EQ(LoadavgRunnable("1.41 1.34 1.40 3/245 31575"), 3);
  EXPECT_FALSE(LoadavgRunnable("1.41 1.34 1.40").has_value());
  EXPECT_FALSE(LoadavgRunnable("1.41 1.34 1.40 /245 1").has_value());
}

TEST(ProcStat, StatusFieldsInBytes) {
  const std::string status =
      "Name:\tpython3\nVmPeak:\t  2048 kB\nVmHWM:\t    1234 kB\nThreads:\t4\n";
  EXPECT_EQ(ParseProcStatusBytes(status, "VmHWM"), 1234 * 1024);
  EXPECT_EQ(ParseProcStatusBytes(status, "Threads"), 4);
  EXPECT_EQ(ParseProcStatusBytes(status, "VmRSS"), std::nullopt);
  EXPECT_EQ(ParseProcStatusBytes(status, "Vm"), std::nullopt);  // a prefix is not a key
  EXPECT_EQ(ParseProcStatusBytes("VmHWM:\tlots kB\n", "VmHWM"), std::nullopt);
  const auto self = ProcStatusBytes("self", "VmHWM");
  ASSERT_TRUE(self.has_value());
  EXPECT_GT(*self, 1 << 20);
  EXPECT_EQ(ProcStatusBytes("999999999", "VmHWM"), std::nullopt);
}

TEST(ProcStat, CpuActivitySeesABusyChildProcess) {
  const pid_t child = fork();
  if (child == 0) {
    volatile unsigned long spins = 0;
    for (;;) spins = spins + 1UL;
  }
  ASSERT_GT(child, 0);
  const nlohmann::json a = SampleCpuActivity(0.3);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ASSERT_TRUE(a.is_object()) << a.dump();
  // The spinning child keeps up to a core busy (less when ctest runs other tests beside it);
  // the sampler itself sleeps.
  EXPECT_GT(a["other_cores"].get<double>(), 0.3) << a.dump();
  bool listed = false;
  for (const auto& p : a["top"]) listed |= p["pid"] == child && p["cores"].get<double>() > 0.3;
  EXPECT_TRUE(listed) << a.dump();
}

}  // namespace
}  // namespace fwbench
