// Task train_ddp: the configurations a plan expands to, the spec each trial gets, and the
// launcher (`fwbench ddp-launch`) run for real with shell scripts as its ranks.
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/trial_spec.h"
#include "orchestrate/ddp_launch.h"
#include "orchestrate/run_plan.h"
#include "orchestrate/slurm_executor.h"

namespace fwbench {
namespace {

std::vector<BuiltinBackend> Catalogue() {
  std::vector<BuiltinBackend> out = BuiltinWorkerCatalogue();
  for (BuiltinBackend& b : out) {
    b.command = {"/w/" + b.name, "{spec}"};
    if (b.name == "pytorch") b.ddp_modes = {"eager"};
    if (b.name != "pytorch" && b.name != "tfjs") b.unavailable = "not installed";
  }
  return out;
}

std::vector<std::string> Ids(const std::vector<Configuration>& configs) {
  std::vector<std::string> ids;
  for (const Configuration& c : configs) ids.push_back(c.id);
  return ids;
}

Plan DdpPlan() {
  Plan plan;
  plan.tasks = {"train_ddp"};
  plan.train_batch_size = 8;
  plan.ddp_processes = {1, 2};
  plan.ddp_hosts = {1, 2};
  return plan;
}

TEST(DdpPlan, EachProcessAndHostCountIsAConfigurationRunThroughTheLauncher) {
  if (const std::string why = DdpHostsUnavailableReason(2); !why.empty()) GTEST_SKIP() << why;
  Plan plan = DdpPlan();
  plan.backends = {"libtorch", "pytorch"};
  const auto configs = ExpandConfigurations(plan, "/x/fwbench", 2, Catalogue());
  // One host for one process; two hosts need two processes.
  EXPECT_EQ(Ids(configs),
            (std::vector<std::string>{
                "libtorch/eager/train_ddp/b8/p1", "libtorch/eager/train_ddp/b8/p2",
                "libtorch/eager/train_ddp/b8/p2/h2", "pytorch/eager/train_ddp/b8/p1",
                "pytorch/eager/train_ddp/b8/p2", "pytorch/eager/train_ddp/b8/p2/h2"}));
  const Configuration& c = configs[2];
  EXPECT_EQ(c.ddp_processes, 2);
  EXPECT_EQ(c.ddp_hosts, 2);
  EXPECT_EQ(c.command, (std::vector<std::string>{"/x/fwbench", "ddp-launch", "--processes", "2",
                                                 "--hosts", "2", "--log-dir", kTrialDirPlaceholder,
                                                 "--", "/x/fwbench", "trial", "{spec}"}));
  EXPECT_EQ(ToJson(c)["ddp_processes"], 2);
}

TEST(DdpPlan, RanksBeyondTheCoresAreLeftOutWithTheReason) {
  Plan plan = DdpPlan();
  plan.backends = {"libtorch"};
  plan.threads = {1, 2};
  plan.ddp_hosts = {1};
  std::vector<std::string> left_out;
  const auto configs = ExpandConfigurations(plan, "/x/fwbench", 2, Catalogue(), &left_out);
  EXPECT_EQ(Ids(configs), (std::vector<std::string>{"libtorch/eager/train_ddp/b8/p1",
                                                    "libtorch/eager/train_ddp/b8/p2",
                                                    "libtorch/eager/train_ddp/b8/t2/p1"}));
  ASSERT_EQ(left_out.size(), 1u);
  EXPECT_EQ(left_out[0],
            "libtorch/eager/train_ddp/b8/t2/p2: 2 processes x 2 threads is more compute threads "
            "than the 2 usable cores");
}

TEST(DdpPlan, ABackendWithoutDataParallelTrainingIsRefusedByNameAndSkippedByAuto) {
  Plan plan = DdpPlan();
  plan.backends = {"tfjs"};
  try {
    ExpandConfigurations(plan, "/x/fwbench", 2, Catalogue());
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("tfjs does not run train_ddp"), std::string::npos)
        << e.what();
  }
  plan.backends = {"pytorch/torchscript"};
  try {
    ExpandConfigurations(plan, "/x/fwbench", 2, Catalogue());
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("pytorch runs train_ddp in mode eager only"),
              std::string::npos)
        << e.what();
  }
  plan.backends = {"auto"};
  plan.ddp_hosts = {1};
  const auto configs = ExpandConfigurations(plan, "/x/fwbench", 2, Catalogue());
  std::set<std::string> backends;
  for (const Configuration& c : configs) backends.insert(c.backend + "/" + c.mode);
  EXPECT_EQ(backends,
            (std::set<std::string>{"libtorch/eager", "libtorch/compiled", "pytorch/eager"}));
}

TEST(DdpPlan, EveryRankTakesTheSameFixedStepsAndTheSpecSaysHowManyRanks) {
  Plan plan = DdpPlan();
  plan.ddp_hosts = {1};
  plan.backends = {"libtorch"};
  plan.train_budget = {.min_steps = 12, .max_steps = 0, .min_seconds = 2.0, .max_seconds = 60.0};
  plan.trial_timeout_s = 90;
  const auto configs = ExpandConfigurations(plan, "/x/fwbench", 2, Catalogue());
  ASSERT_EQ(configs.size(), 2u);
  const TrialSpec spec = MakeTrialSpec(plan, configs[1], RunInputs{}, 0, "t", "/tmp/t");
  EXPECT_EQ(spec.task, "train_ddp");
  EXPECT_EQ(spec.ddp.processes, 2);
  EXPECT_EQ(spec.ddp.hosts, 1);
  EXPECT_EQ(spec.batch_size, 8);
  EXPECT_TRUE(spec.augment);
  EXPECT_TRUE(spec.shuffle);
  EXPECT_EQ(spec.budget.min_steps, 12);
  EXPECT_EQ(spec.budget.max_steps, 12);
  EXPECT_EQ(spec.budget.min_seconds, 0.0);
  EXPECT_EQ(spec.budget.max_seconds, 90.0);
  // The spec carries it, and reads back.
  TrialSpec two_hosts = spec;
  two_hosts.ddp.hosts = 2;
  const TrialSpec back = TrialSpecFromJson(ToJson(two_hosts), "spec.json");
  EXPECT_EQ(back.ddp.processes, 2);
  EXPECT_EQ(back.ddp.hosts, 2);
}

TEST(DdpPlan, BadDataParallelFieldsAreNamed) {
  Plan plan = DdpPlan();
  plan.ddp_processes = {0};
  EXPECT_THROW(ValidatePlan(plan), UsageError);
  plan = DdpPlan();
  plan.workload = "llm_lora";
  try {
    ValidatePlan(plan);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("train_ddp runs the image_classification workload only"),
              std::string::npos)
        << e.what();
  }
  plan = DdpPlan();
  plan.ddp_processes = {2};
  plan.ddp_hosts = {3};
  try {
    ValidatePlan(plan);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("plan field ddp.hosts: no host count (3) divides a "
                                         "process count (2)"),
              std::string::npos)
        << e.what();
  }
  plan = DdpPlan();
  plan.tasks = {"ddp"};
  try {
    ValidatePlan(plan);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("expected train, infer, train_ddp or input_pipeline"),
              std::string::npos);
  }
  nlohmann::json spec = ToJson(TrialSpec{});
  spec["task"] = "train_ddp";
  spec["ddp"] = {{"processes", 3}, {"hosts", 2}};
  try {
    TrialSpecFromJson(spec, "s.json");
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("s.json: field \"ddp\": processes (3) must be a positive "
                                         "multiple of hosts (2)"),
              std::string::npos)
        << e.what();
  }
  spec["ddp"] = {{"processes", 2}, {"hosts", 1}, {"ranks", 2}};
  EXPECT_THROW(TrialSpecFromJson(spec, "s.json"), UsageError);
}

TEST(DdpLaunch, HostsTakeConsecutiveBlocksOfRanks) {
  EXPECT_EQ(DdpHostOfRank(0, 4, 2), 0);
  EXPECT_EQ(DdpHostOfRank(1, 4, 2), 0);
  EXPECT_EQ(DdpHostOfRank(2, 4, 2), 1);
  EXPECT_EQ(DdpHostOfRank(3, 4, 2), 1);
  EXPECT_EQ(DdpHostOfRank(1, 2, 1), 0);
}

class DdpLaunchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("fwbench_ddp_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // `fwbench ddp-launch` with a shell script as every rank's program.
  CommandOutput Launch(int processes, int hosts, const std::string& script) {
    return RunCommand(
        {FWBENCH_BINARY, "ddp-launch", "--processes", std::to_string(processes), "--hosts",
         std::to_string(hosts), "--log-dir", dir_.string(), "--", "/bin/sh", "-c", script},
        60.0);
  }
  std::string Read(const std::string& name) {
    std::ifstream in(dir_ / name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::filesystem::path dir_;
};

constexpr char kSayWhere[] =
    "echo \"{\\\"rank\\\":$FWBENCH_DDP_RANK,\\\"addrs\\\":\\\"$FWBENCH_DDP_ADDRS\\\","
    "\\\"ifname\\\":\\\"$GLOO_SOCKET_IFNAME\\\",\\\"world\\\":$WORLD_SIZE}\"";

TEST_F(DdpLaunchTest, RankZeroSpeaksOnStdoutTheOthersWriteFilesAndAllKnowTheirPeers) {
  const CommandOutput out = Launch(3, 1, kSayWhere);
  ASSERT_TRUE(out.started);
  EXPECT_EQ(out.exit_code, 0) << out.err;
  const auto rank0 = nlohmann::json::parse(out.out);
  EXPECT_EQ(rank0["rank"], 0);
  EXPECT_EQ(rank0["world"], 3);
  EXPECT_EQ(rank0["ifname"], "lo");
  const std::string addrs = rank0["addrs"];
  std::set<std::string> distinct;
  std::stringstream list(addrs);
  for (std::string a; std::getline(list, a, ',');) {
    EXPECT_EQ(a.rfind("127.0.0.1:", 0), 0u) << a;
    distinct.insert(a);
  }
  EXPECT_EQ(distinct.size(), 3u) << addrs;
  for (int r : {1, 2}) {
    const auto j = nlohmann::json::parse(Read("rank" + std::to_string(r) + ".stdout.jsonl"));
    EXPECT_EQ(j["rank"], r);
    EXPECT_EQ(j["addrs"], addrs);
  }
}

TEST_F(DdpLaunchTest, ARankThatFailsEndsTheOthersAndIsNamedWithItsLastLogLine) {
  const auto t0 = std::chrono::steady_clock::now();
  const CommandOutput out = Launch(
      2, 1,
      "if [ \"$FWBENCH_DDP_RANK\" = 0 ]; then exec sleep 50; fi; echo 'gloo: peer went away' >&2; "
      "exit 3");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(seconds, 30.0) << "rank 0 was not ended when rank 1 failed";
  EXPECT_EQ(out.exit_code, 1);
  const auto error = nlohmann::json::parse(out.out.substr(out.out.rfind('{')));
  EXPECT_EQ(error["event"], "error");
  const std::string message = error["message"];
  EXPECT_NE(message.find("ddp rank 1 of 2 exited with code 3: gloo: peer went away"),
            std::string::npos)
      << message;
}

TEST_F(DdpLaunchTest, RankZerosOwnFailureIsTheTrials) {
  const auto t0 = std::chrono::steady_clock::now();
  const CommandOutput out = Launch(2, 1, "[ \"$FWBENCH_DDP_RANK\" = 0 ] && exit 4; exec sleep 50");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30.0)
      << "rank 1 outlived the failed trial";
  EXPECT_EQ(out.exit_code, 4);
  EXPECT_EQ(out.out.find("ddp rank"), std::string::npos) << out.out;
}

TEST_F(DdpLaunchTest, ProcessesThatHostsDoNotDivideAreAUsageError) {
  const CommandOutput out = Launch(3, 2, "true");
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_NE(out.err.find("--processes (3) must be a positive multiple of --hosts (2)"),
            std::string::npos)
      << out.err;
  EXPECT_NE(out.out.find("\"kind\":\"usage\""), std::string::npos) << out.out;
}

// Two hosts are two network namespaces: each rank sees only its host's link and address (the
// frameworks' end-to-end runs show the ranks reach each other over it); nothing is left behind.
TEST_F(DdpLaunchTest, TwoHostsAreNamespacesJoinedByALinkAndLeaveNothingBehind) {
  if (const std::string why = DdpHostsUnavailableReason(2); !why.empty()) GTEST_SKIP() << why;
  const CommandOutput out =
      Launch(2, 2, std::string(kSayWhere) + "; ip -o -4 addr show fwbnet >&2; ip -o link show >&2");
  EXPECT_EQ(out.exit_code, 0) << out.err;
  const auto rank0 = nlohmann::json::parse(out.out);
  EXPECT_EQ(rank0["addrs"], "10.231.0.1:29500,10.231.0.2:29500");
  EXPECT_EQ(rank0["ifname"], "fwbnet");
  const std::string rank1_log = Read("rank1.stderr.log");
  EXPECT_NE(rank1_log.find("inet 10.231.0.2/24"), std::string::npos) << rank1_log;
  // The host's own links only: loopback and its end of the link to the switch.
  EXPECT_EQ(rank1_log.find("eth0"), std::string::npos) << rank1_log;
  const CommandOutput netns = RunCommand({"ip", "netns", "list"});
  EXPECT_EQ(netns.out.find("fwb"), std::string::npos) << netns.out;
}

}  // namespace
}  // namespace fwbench
