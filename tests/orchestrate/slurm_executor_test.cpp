// The Slurm executor without a cluster: Slurm's client programs replaced by small scripts that
// run an array's tasks one after another on this machine (through the real `fwbench
// slurm-task`), so the executor's own logic (the job array, the streamed stdout, a task lost
// without its exit record, a protocol violation cancelled) is tested in seconds and without
// root. tests/cli/slurm_e2e_test.cpp runs the same on a real Slurm cluster.
#include "orchestrate/slurm_executor.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "orchestrate/run_plan.h"
#include "orchestrate/slurm_task.h"
#include "support/temp_dir_test.h"

namespace fwbench {
namespace {

using testing::TempDirTest;
using testing::UsageErrorOf;

std::vector<nlohmann::json> ReadLines(const std::filesystem::path& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteScript(const std::filesystem::path& path, const std::string& body) {
  std::ofstream(path) << "#!/bin/bash\n" << body;
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
}

TEST(SlurmParsing, SbatchJobIdSinfoNodesAndPendingReasons) {
  EXPECT_EQ(ParseSbatchJobId("123\n"), "123");
  EXPECT_EQ(ParseSbatchJobId("456;cluster2\n"), "456");
  EXPECT_EQ(ParseSbatchJobId("sbatch: error: Batch job submission failed\n"), "");
  EXPECT_EQ(ParseSbatchJobId(""), "");

  const auto nodes = ParseSinfoNodes("n1 idle\nn2 down*\nn1 idle\nn3 mix\nn4 drain\nn5 idle*\n");
  ASSERT_EQ(nodes.size(), 5u);
  EXPECT_EQ(nodes[0].name, "n1");
  EXPECT_TRUE(nodes[0].up);
  EXPECT_FALSE(nodes[1].up) << "down";
  EXPECT_TRUE(nodes[2].up) << "mix: busy, but takes jobs";
  EXPECT_FALSE(nodes[3].up) << "drain";
  EXPECT_FALSE(nodes[4].up) << "* is not responding";

  EXPECT_TRUE(IsUnschedulableReason("ReqNodeNotAvail, UnavailableNodes:n2"));
  EXPECT_TRUE(IsUnschedulableReason("PartitionDown"));
  EXPECT_FALSE(IsUnschedulableReason("Resources"));
  EXPECT_FALSE(IsUnschedulableReason("JobArrayTaskLimit"));
}

TEST(SlurmTask, MachineTypeNamesCpuCoresMemoryAndGpus) {
  const nlohmann::json fp = {{"cpu", {{"model", "AMD EPYC 9654"}, {"usable_cores", 96}}},
                             {"memory", {{"total_bytes", 768LL << 30}}},
                             {"gpu", {{{"model", "NVIDIA H100"}}, {{"model", "NVIDIA H100"}}}}};
  EXPECT_EQ(MachineType(fp), "AMD EPYC 9654, 96 cores, 768 GiB, 2× NVIDIA H100");
  EXPECT_EQ(MachineType({{"cpu", nullptr}}), "unknown CPU, 0 cores, 0 GiB");
}

class SlurmTaskTest : public TempDirTest {};

TEST_F(SlurmTaskTest, RunsItsTrialAndWritesStdoutTheExitRecordAndTheNodesFingerprint) {
  setenv("SLURMD_NODENAME", "node-a", 1);
  const nlohmann::json table = nlohmann::json::array(
      {{{"trial", "t0"},
        {"argv", {"/bin/sh", "-c", "echo \"$GREETING\"; echo second; echo oops >&2; exit 3"}},
        {"env", {"GREETING={\"hello\":1}"}},
        {"stderr", (dir_ / "stderr.log").string()},
        {"stdout", (dir_ / "stdout.jsonl").string()},
        {"exit", (dir_ / "exit.json").string()},
        {"timeout_s", 30},
        {"nodes_dir", (dir_ / "nodes").string()}}});
  std::ofstream(dir_ / "tasks.json") << table.dump();
  EXPECT_EQ(RunSlurmTask(dir_ / "tasks.json", 0), 3) << "the task ends as its trial did";
  unsetenv("SLURMD_NODENAME");
  EXPECT_EQ(ReadText(dir_ / "stdout.jsonl"), "{\"hello\":1}\nsecond\n");
  EXPECT_EQ(ReadText(dir_ / "stderr.log"), "oops\n");
  const nlohmann::json exit = nlohmann::json::parse(ReadText(dir_ / "exit.json"));
  EXPECT_EQ(exit["node"], "node-a");
  EXPECT_EQ(exit["exit_code"], 3);
  EXPECT_TRUE(exit["started"].get<bool>());
  EXPECT_GT(exit["exit_ns"].get<std::int64_t>(), exit["spawn_ns"].get<std::int64_t>());
  const nlohmann::json fp = nlohmann::json::parse(ReadText(dir_ / "nodes" / "node-a.json"));
  EXPECT_EQ(fp["node"], "node-a");
  EXPECT_EQ(fp["machine_type"], exit["machine_type"]);
  EXPECT_TRUE(fp.contains("cpu"));

  EXPECT_NE(UsageErrorOf([&] { RunSlurmTask(dir_ / "tasks.json", 1); }).find("no task 1"),
            std::string::npos);
  std::ofstream(dir_ / "bad.json") << "{not json";
  EXPECT_NE(UsageErrorOf([&] { RunSlurmTask(dir_ / "bad.json", 0); }).find("not valid JSON"),
            std::string::npos);
}

TEST_F(SlurmTaskTest, TheNodeCheckNamesACommandThatIsNotHere) {
  std::ofstream(dir_ / "needs.json") << nlohmann::json{
      {"commands", {{"here", {"/bin/sh", "{spec}"}}, {"gone", {"/nonexistent/worker", "{spec}"}}}},
      {"builtin_workers",
       nlohmann::json::array()}}.dump();
  const nlohmann::json out = CheckThisNode(dir_ / "needs.json");
  ASSERT_EQ(out["missing"].size(), 1u) << out.dump();
  EXPECT_EQ(out["missing"][0]["backend"], "gone");
  EXPECT_NE(out["missing"][0]["why"].get<std::string>().find("/nonexistent/worker"),
            std::string::npos);
}

// Slurm's client programs as scripts over a folder of state files: sbatch runs the array's
// tasks one after another in the background (each through the batch script, whose srun execs
// its command), squeue reads a task's state file, sacct says how a lost task ended.
class FakeSlurmTest : public TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    bin_ = dir_ / "bin";
    state_ = dir_ / "state";
    std::filesystem::create_directories(bin_);
    std::filesystem::create_directories(state_);
    WriteScript(bin_ / "sinfo", R"(
case "$*" in
  *%P*) echo "debug*" ;;
  *-N*) echo "f1 idle" ;;
esac
)");
    // The tasks run in a session of their own, which sbatch waits to see: the executor's
    // RunCommand ends sbatch's process group when sbatch returns, as for every command it runs.
    WriteScript(bin_ / "sbatch", R"(
s=$FAKE_SLURM_STATE; array=""; script=""
for a in "$@"; do case $a in --array=*) array=${a#--array=} ;; -*) ;; *) script=$a ;; esac; done
range=${array%%\%*}; last=${range#0-}
job=$(cat "$s/next" 2> /dev/null || echo 100); echo $((job + 1)) > "$s/next"
echo "$*" > "$s/sbatch.$job"
for i in $(seq 0 "$last"); do echo "PENDING|None|" > "$s/q.${job}_$i"; done
setsid bash -c '
  touch "$1/started.$2"
  for i in $(seq 0 "$3"); do
    echo "RUNNING|None|f1" > "$1/q.$2_$i"
    SLURM_ARRAY_TASK_ID=$i SLURMD_NODENAME=f1 sh "$4"
    rm -f "$1/q.$2_$i"
  done' runner "$s" "$job" "$last" "$script" > /dev/null 2>&1 < /dev/null &
until [[ -f $s/started.$job ]]; do sleep 0.01; done
echo "$job"
)");
    WriteScript(bin_ / "squeue", R"(
while (($#)); do [[ $1 == -j ]] && id=$2; shift; done
f=$FAKE_SLURM_STATE/q.$id
if [[ -f $f ]]; then cat "$f"; else echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1; fi
)");
    WriteScript(bin_ / "srun", R"(
while [[ $1 == -* ]]; do shift; done
exec "$@"
)");
    // scancel of a running task ends its slurm-task (and so its trial): no exit record.
    WriteScript(bin_ / "scancel", R"(
echo "$@" >> "$FAKE_SLURM_STATE/scancel.log"
if [[ $1 == *_* ]]; then
  pkill -KILL -f "slurm-task ${FAKE_SLURM_STATE%/state}/.*/tasks-[0-9]*\.json ${1#*_}\$"
fi
exit 0
)");
    // The controller has forgotten ended jobs (scontrol fails); accounting says how they ended.
    WriteScript(bin_ / "scontrol", "exit 1\n");
    WriteScript(bin_ / "sacct", "echo \"${FAKE_SACCT:-NODE_FAIL|f1}\"\n");
    old_path_ = std::getenv("PATH");
    setenv("PATH", (bin_.string() + ":" + old_path_).c_str(), 1);
    setenv("FAKE_SLURM_STATE", state_.c_str(), 1);

    plan_.trials = 1;
    plan_.warmup_trials = 0;
    plan_.tasks = {"infer"};
    plan_.infer_batch_sizes = {4};
    plan_.infer_budget.min_steps = 5;
    plan_.trial_timeout_s = 20;
    plan_.out_dir = dir_ / "out";
    plan_.backends.clear();
  }
  void TearDown() override {
    setenv("PATH", old_path_.c_str(), 1);
    unsetenv("FAKE_SLURM_STATE");
    TempDirTest::TearDown();
  }
  SlurmOptions Options() const {
    SlurmOptions o;
    o.self_exe = FWBENCH_BINARY;
    o.poll_s = 0.02;
    o.state_poll_s = 0.1;
    o.exit_record_grace_s = 0.3;
    o.max_array_tasks = max_array_tasks_;
    return o;
  }
  void AddWorker(const std::string& name, std::vector<std::string> command) {
    plan_.workers[name] = {std::move(command), "eager"};
    plan_.backends.push_back(name);
  }
  std::filesystem::path Run(RunTotals& totals) {
    const auto configs = ExpandConfigurations(plan_, "/unused", 1);
    auto run_dir = CreateRunDir(plan_.out_dir, plan_.name);
    std::ostringstream progress;
    SlurmExecutor executor(Options());
    totals = RunTrials(plan_, configs, {dir_ / "data", dir_ / "w.safetensors"},
                       nlohmann::json{{"test", true}}, run_dir, executor, progress);
    return run_dir;
  }

  std::filesystem::path bin_, state_;
  std::size_t max_array_tasks_ = 1000;
  std::string old_path_;
  Plan plan_;
};

TEST_F(FakeSlurmTest, TheScheduleIsOneJobArrayAndEveryTrialRecordsItsNode) {
  AddWorker("a", {FAKE_WORKER, "ok", "{spec}"});
  AddWorker("b", {FAKE_WORKER, "ok", "{spec}"});
  plan_.trials = 2;
  RunTotals totals;
  const auto run_dir = Run(totals);
  EXPECT_EQ(totals.trials_ok, 4);
  EXPECT_EQ(totals.trials_failed, 0);
  const std::string sbatch = ReadText(state_ / "sbatch.100");
  EXPECT_NE(sbatch.find("--array=0-3%1"), std::string::npos) << sbatch;
  EXPECT_NE(sbatch.find("--exclusive"), std::string::npos) << "a trial holds its whole node";
  EXPECT_NE(sbatch.find("--no-requeue"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(state_ / "next") && ReadText(state_ / "next") != "101\n")
      << "one sbatch for the whole schedule";
  const auto trials = ReadLines(run_dir / "trials.jsonl");
  ASSERT_EQ(trials.size(), 4u);
  for (std::size_t i = 0; i < trials.size(); ++i) {
    const nlohmann::json& t = trials[i];
    EXPECT_EQ(t["status"], "ok") << t.dump();
    EXPECT_EQ(t["backend"], i % 2 == 0 ? "a" : "b") << "the plan's interleaving";
    EXPECT_EQ(t["node"], "f1");
    EXPECT_EQ(t["slurm_job"], "100_" + std::to_string(i));
    EXPECT_FALSE(t["machine_type"].get<std::string>().empty());
    EXPECT_EQ(t["steps"], 5);
    EXPECT_GT(t["max_rss_bytes"].get<std::int64_t>(), 0) << "measured on the node";
  }
  // Every event streamed back with its trial id: hello + phase + 5 steps + metric + done.
  const auto events = ReadLines(run_dir / "events.jsonl");
  EXPECT_EQ(events.size(), 4u * 9u);
  EXPECT_TRUE(std::filesystem::exists(run_dir / "nodes" / "f1.json"));
}

TEST_F(FakeSlurmTest, ALongScheduleIsSeveralArraysEachAfterTheOneBefore) {
  AddWorker("a", {FAKE_WORKER, "ok", "{spec}"});
  plan_.trials = 5;
  max_array_tasks_ = 2;
  RunTotals totals;
  const auto run_dir = Run(totals);
  EXPECT_EQ(totals.trials_ok, 5);
  EXPECT_NE(ReadText(state_ / "sbatch.100").find("--array=0-1%1"), std::string::npos);
  EXPECT_EQ(ReadText(state_ / "sbatch.100").find("--dependency"), std::string::npos);
  EXPECT_NE(ReadText(state_ / "sbatch.101").find("--dependency=afterany:100"), std::string::npos);
  EXPECT_NE(ReadText(state_ / "sbatch.102").find("--array=0-0%1 "), std::string::npos);
  EXPECT_NE(ReadText(state_ / "sbatch.102").find("--dependency=afterany:101"), std::string::npos);
  const auto trials = ReadLines(run_dir / "trials.jsonl");
  ASSERT_EQ(trials.size(), 5u);
  EXPECT_EQ(trials[4]["slurm_job"], "102_0");
}

TEST_F(FakeSlurmTest, ATaskLostWithoutItsExitRecordIsAFailureAndTheRunGoesOn) {
  // The trial kills `fwbench slurm-task` itself: no exit record, as when its node dies.
  AddWorker("lost", {"/bin/sh", "-c", "kill -9 $PPID; sleep 5"});
  AddWorker("a", {FAKE_WORKER, "ok", "{spec}"});
  RunTotals totals;
  const auto run_dir = Run(totals);
  EXPECT_EQ(totals.trials_ok, 1);
  EXPECT_EQ(totals.trials_failed, 1);
  const auto trials = ReadLines(run_dir / "trials.jsonl");
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0]["status"], "failed");
  const std::string reason = trials[0]["reason"];
  EXPECT_NE(reason.find("slurm task 100_0 ended NODE_FAIL on f1"), std::string::npos) << reason;
  EXPECT_NE(reason.find("without its exit record"), std::string::npos) << reason;
  EXPECT_EQ(trials[1]["status"], "ok") << trials[1].dump();
}

TEST_F(FakeSlurmTest, AProtocolViolationCancelsTheTask) {
  // A line that is no event, then a trial that would run on: only the cancel ends it.
  AddWorker("g", {"/bin/sh", "-c", "echo this is not an event; exec sleep 30"});
  RunTotals totals;
  const auto run_dir = Run(totals);
  EXPECT_EQ(totals.trials_failed, 1);
  const auto trials = ReadLines(run_dir / "trials.jsonl");
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_NE(trials[0]["reason"].get<std::string>().find("protocol error"), std::string::npos)
      << trials[0].dump();
  EXPECT_NE(ReadText(state_ / "scancel.log").find("100_0"), std::string::npos);
  // Cancelled on its node before it could write an exit record: the monitor's reason stands,
  // not "lost".
  const std::filesystem::path trial_dir =
      (run_dir / trials[0]["stderr"].get<std::string>()).parent_path();
  EXPECT_FALSE(std::filesystem::exists(trial_dir / "exit.json"));
}

TEST_F(FakeSlurmTest, NoControllerNoPartitionAndNoClientProgramsAreUsageErrors) {
  SlurmOptions o = Options();
  o.partition = "gpu";
  const std::string no_partition = UsageErrorOf([&] { SlurmExecutor e(o); });
  EXPECT_NE(no_partition.find("no partition 'gpu'; its partitions: debug"), std::string::npos)
      << no_partition;

  WriteScript(bin_ / "sinfo",
              "echo 'sinfo: error: Unable to contact slurm controller (connect failure)' >&2\n"
              "exit 1\n");
  const std::string no_controller = UsageErrorOf([&] { SlurmExecutor e(Options()); });
  EXPECT_NE(no_controller.find("no Slurm controller answered"), std::string::npos) << no_controller;
  EXPECT_NE(no_controller.find("Unable to contact slurm controller"), std::string::npos);

  std::filesystem::remove(bin_ / "sbatch");
  setenv("PATH", bin_.c_str(), 1);
  const std::string no_sbatch = UsageErrorOf([&] { SlurmExecutor e(Options()); });
  EXPECT_NE(no_sbatch.find("`sbatch` is not on PATH"), std::string::npos) << no_sbatch;
}

}  // namespace
}  // namespace fwbench
