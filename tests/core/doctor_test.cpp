#include "core/doctor.h"

#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/env_fingerprint.h"

namespace fwbench {
namespace {

using nlohmann::json;
constexpr long long kGiB = 1024LL * 1024 * 1024;

// A fingerprint of a well set-up 8-core machine: nothing to report.
json Clean() {
  json env = json::object();
  for (const std::string& name : ThreadEnvVarNames()) env[name] = nullptr;
  return {
      {"cpu",
       {{"logical_cores", 8},
        {"usable_cores", 8},
        {"cgroup_cpu_limit", nullptr},
        {"governor", "performance"}}},
      {"memory", {{"total_bytes", 32 * kGiB}, {"available_bytes", 16 * kGiB}}},
      {"load", {{"loadavg_1m", 0.2}, {"loadavg_5m", 0.3}, {"loadavg_15m", 0.1}}},
      {"env", env},
      {"blas",
       {{"detected", "openblas-pthread"},
        {"libraries", {"/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"}}}},
  };
}

std::vector<std::string> Ids(const std::vector<Finding>& findings) {
  std::vector<std::string> ids;
  for (const Finding& f : findings) ids.push_back(f.id);
  return ids;
}

using Ids_ = std::vector<std::string>;

TEST(Diagnose, CleanFingerprintHasNoFindings) {
  EXPECT_EQ(Ids(Diagnose(Clean(), 4)), Ids_{});
  EXPECT_EQ(Ids(Diagnose(Clean(), 8)), Ids_{});  // every core, but not more
  EXPECT_EQ(Ids(Diagnose(Clean(), 0)), Ids_{});
}

TEST(Diagnose, MissingOrMistypedFieldsSkipRules) {
  EXPECT_EQ(Ids(Diagnose(json::object(), 4)), Ids_{});
  EXPECT_EQ(Ids(Diagnose(json(nullptr), 4)), Ids_{});
  EXPECT_EQ(Ids(Diagnose(json::array(), 4)), Ids_{});
  json fp = Clean();
  fp["cpu"]["usable_cores"] = "eight";
  fp["cpu"]["logical_cores"] = nullptr;
  fp["memory"] = 7;
  EXPECT_EQ(Ids(Diagnose(fp, 64)), Ids_{});
}

TEST(Diagnose, ReferenceBlas) {
  json fp = Clean();
  fp["blas"]["detected"] = "reference";
  const auto findings = Diagnose(fp, 4);
  ASSERT_EQ(Ids(findings), Ids_{"blas.reference"});
  EXPECT_EQ(findings[0].level, Finding::Level::kWarning);
  EXPECT_NE(findings[0].what.find("many times slower"), std::string::npos);
  EXPECT_NE(findings[0].fix.find("apt-get install libopenblas0-pthread"), std::string::npos);
}

TEST(Diagnose, UnknownBlasNamesTheLibraries) {
  json fp = Clean();
  fp["blas"]["detected"] = "unknown";
  fp["blas"]["libraries"] = {"/opt/weird/libfancyblas.so"};
  const auto findings = Diagnose(fp, 4);
  ASSERT_EQ(Ids(findings), Ids_{"blas.unknown"});
  EXPECT_EQ(findings[0].level, Finding::Level::kWarning);
  EXPECT_NE(findings[0].what.find("/opt/weird/libfancyblas.so"), std::string::npos);
}

TEST(Diagnose, LibtorchBlasTakesPrecedence) {
  json fp = Clean();
  fp["blas"]["detected"] = "unknown";  // before LibTorch ran a matmul
  fp["libtorch"] = {{"blas", "openblas-pthread"}};
  EXPECT_EQ(Ids(Diagnose(fp, 4)), Ids_{});
  fp["libtorch"]["blas"] = "reference";
  EXPECT_EQ(Ids(Diagnose(fp, 4)), Ids_{"blas.reference"});
}

TEST(Diagnose, Oversubscription) {
  json fp = Clean();
  const auto findings = Diagnose(fp, 9);
  ASSERT_EQ(Ids(findings), Ids_{"threads.oversubscribed"});
  EXPECT_EQ(findings[0].level, Finding::Level::kWarning);
  EXPECT_NE(findings[0].what.find("9 threads"), std::string::npos);
  EXPECT_NE(findings[0].fix.find("at most 8"), std::string::npos);

  fp["cpu"]["usable_cores"] = nullptr;  // falls back on the logical count
  EXPECT_EQ(Ids(Diagnose(fp, 9)), Ids_{"threads.oversubscribed"});
  EXPECT_EQ(Ids(Diagnose(fp, 8)), Ids_{});
}

TEST(Diagnose, CgroupQuotaCapsUsableCores) {
  json fp = Clean();
  fp["cpu"]["cgroup_cpu_limit"] = 2.5;
  EXPECT_EQ(Ids(Diagnose(fp, 2)), Ids_{});
  const auto findings = Diagnose(fp, 3);
  ASSERT_EQ(Ids(findings), Ids_{"threads.oversubscribed"});
  EXPECT_NE(findings[0].what.find("2.50 cores"), std::string::npos) << findings[0].what;
}

TEST(Diagnose, ThreadEnvVarsThatDisagree) {
  json fp = Clean();
  fp["env"]["OMP_NUM_THREADS"] = "4";
  fp["env"]["MKL_NUM_THREADS"] = "4,2";  // nesting levels: the first one counts
  EXPECT_EQ(Ids(Diagnose(fp, 4)), Ids_{});

  fp["env"]["OMP_NUM_THREADS"] = "8";
  fp["env"]["OPENBLAS_NUM_THREADS"] = "lots";
  const auto findings = Diagnose(fp, 4);
  ASSERT_EQ(Ids(findings), Ids_({"env.thread_count", "env.thread_count"}));
  EXPECT_NE(findings[0].what.find("OMP_NUM_THREADS=8"), std::string::npos);
  EXPECT_NE(findings[1].what.find("OPENBLAS_NUM_THREADS=lots"), std::string::npos);
  EXPECT_EQ(findings[0].fix, "unset OMP_NUM_THREADS or set it to 4");

  // Without a requested count there is nothing to disagree with.
  EXPECT_EQ(Ids(Diagnose(fp, 0)), Ids_{});
}

TEST(Diagnose, MeasuredCpuActivityOfOtherProcesses) {
  json fp = Clean();
  fp["load"]["loadavg_1m"] = 7.0;  // the load average is not used once activity was measured
  fp["cpu_activity"] = {
      {"window_s", 0.5}, {"other_cores", 0.1}, {"runnable", 2}, {"top", json::array()}};
  EXPECT_EQ(Ids(Diagnose(fp, 4)), Ids_{});
  fp["cpu_activity"]["other_cores"] = 1.2;
  fp["cpu_activity"]["runnable"] = 11;
  fp["cpu_activity"]["top"] = {{{"pid", 42}, {"command", "make"}, {"cores", 1.1}},
                               {{"pid", 7}, {"command", "idle"}, {"cores", 0.01}}};
  const auto findings = Diagnose(fp, 4);
  ASSERT_EQ(Ids(findings), Ids_({"load.busy", "load.oversubscribed"}));
  EXPECT_NE(findings[0].what.find("kept 1.20 cores busy"), std::string::npos) << findings[0].what;
  EXPECT_NE(findings[0].what.find("make (pid 42) 1.10"), std::string::npos) << findings[0].what;
  EXPECT_EQ(findings[0].what.find("idle (pid 7)"), std::string::npos) << findings[0].what;
  EXPECT_NE(findings[1].what.find("11 threads were runnable on 8 usable cores"), std::string::npos)
      << findings[1].what;
}

TEST(Diagnose, LoadOnTheMachine) {
  json fp = Clean();
  fp["load"]["loadavg_1m"] = 4.0;  // exactly half of 8 cores: still fine
  EXPECT_EQ(Ids(Diagnose(fp, 4)), Ids_{});
  fp["load"]["loadavg_1m"] = 4.5;
  const auto findings = Diagnose(fp, 4);
  ASSERT_EQ(Ids(findings), Ids_{"load.busy"});
  EXPECT_EQ(findings[0].level, Finding::Level::kWarning);
  EXPECT_NE(findings[0].what.find("4.50"), std::string::npos);
  EXPECT_FALSE(findings[0].fix.empty());
}

TEST(Diagnose, GovernorIsOnlyANote) {
  json fp = Clean();
  fp["cpu"]["governor"] = "powersave";
  const auto findings = Diagnose(fp, 4);
  ASSERT_EQ(Ids(findings), Ids_{"cpu.governor"});
  EXPECT_EQ(findings[0].level, Finding::Level::kInfo);
  fp["cpu"]["governor"] = nullptr;  // VMs and containers often have no cpufreq
  EXPECT_EQ(Ids(Diagnose(fp, 4)), Ids_{});
}

TEST(Diagnose, LowMemory) {
  json fp = Clean();
  fp["memory"]["available_bytes"] = 2 * kGiB;
  EXPECT_EQ(Ids(Diagnose(fp, 4)), Ids_{});
  fp["memory"]["available_bytes"] = 2 * kGiB - 1;
  const auto findings = Diagnose(fp, 4);
  ASSERT_EQ(Ids(findings), Ids_{"memory.low"});
  EXPECT_EQ(findings[0].level, Finding::Level::kWarning);
}

TEST(Diagnose, OpenblasCoretypeIsANote) {
  json fp = Clean();
  fp["env"]["OPENBLAS_CORETYPE"] = "Haswell";
  const auto findings = Diagnose(fp, 4);
  ASSERT_EQ(Ids(findings), Ids_{"env.openblas_coretype"});
  EXPECT_EQ(findings[0].level, Finding::Level::kInfo);
  EXPECT_NE(findings[0].what.find("Haswell"), std::string::npos);
}

TEST(Diagnose, EverythingAtOnceInRuleOrder) {
  json fp = Clean();
  fp["blas"]["detected"] = "reference";
  fp["env"]["OMP_NUM_THREADS"] = "2";
  fp["env"]["OPENBLAS_CORETYPE"] = "Zen";
  fp["load"]["loadavg_1m"] = 7.0;
  fp["cpu"]["governor"] = "ondemand";
  fp["memory"]["available_bytes"] = kGiB;
  EXPECT_EQ(Ids(Diagnose(fp, 16)),
            Ids_({"blas.reference", "threads.oversubscribed", "env.thread_count", "load.busy",
                  "cpu.governor", "memory.low", "env.openblas_coretype"}));
}

TEST(Diagnose, RunsOnThisMachinesFingerprint) {
  // Whatever this machine has to report, every finding must say what and be identifiable.
  for (const Finding& f : Diagnose(CollectEnvFingerprint(), 1)) {
    EXPECT_FALSE(f.what.empty());
    EXPECT_FALSE(f.id.empty());
  }
}

TEST(FormatFindings, OneLinePerFindingWithPrefixAndFix) {
  const std::vector<Finding> findings = {
      {Finding::Level::kWarning, "slow BLAS", "install OpenBLAS", "blas.reference"},
      {Finding::Level::kInfo, "governor is powersave", "", "cpu.governor"}};
  EXPECT_EQ(FormatFindings(findings),
            "warning: slow BLAS (fix: install OpenBLAS)\nnote: governor is powersave\n");
  EXPECT_EQ(FormatFindings({}), "no problems found\n");

  json fp = Clean();
  fp["blas"]["detected"] = "reference";
  fp["cpu"]["governor"] = "powersave";
  std::istringstream lines(FormatFindings(Diagnose(fp, 4)));
  std::vector<std::string> got;
  for (std::string line; std::getline(lines, line);) got.push_back(line);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].rfind("warning: ", 0), 0u);
  EXPECT_NE(got[0].find("(fix: apt-get install libopenblas0-pthread"), std::string::npos);
  EXPECT_EQ(got[1].rfind("note: ", 0), 0u);
}

}  // namespace
}  // namespace fwbench
