// `fwbench run --executor slurm` on a real Slurm cluster: Debian's slurmctld, slurmdbd and two
// slurmd started by scripts/slurm-test-cluster.sh on this machine (each test its own cluster,
// folder and ports, stopped at its end). Needs root and the packages install-deps --slurm
// installs; without them each test says why it skips.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "run_fwbench.h"
#include "worker_catalogue.h"

namespace fwbench {
namespace {

using fwbench::testing::FreshDir;
using fwbench::testing::ReadLines;
using fwbench::testing::ReadText;
using fwbench::testing::RunDir;
using fwbench::testing::RunFwbench;

const std::string kClusterScript =
    std::string(FWBENCH_SOURCE_DIR) + "/scripts/slurm-test-cluster.sh";

struct Shell {
  int code = -1;
  std::string text;
};

Shell RunShell(const std::string& command) {
  Shell out;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) out.text += buf;
  const int status = pclose(pipe);
  out.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// Why a Slurm cluster cannot be started here, or "".
std::string WhyNoCluster() {
  if (geteuid() != 0) return "the test cluster needs root (slurmd starts jobs as their users)";
  for (const char* p : {"slurmctld", "slurmd", "slurmdbd", "sacct", "mariadbd"}) {
    if (RunShell(std::string("command -v ") + p).code != 0) {
      return std::string(p) + " is not installed (scripts/install-deps.sh --slurm installs Slurm)";
    }
  }
  return "";
}

// A test cluster of two nodes in `dir` on ports from `port`, stopped by the destructor.
class TestCluster {
 public:
  TestCluster(std::filesystem::path dir, int port, const std::string& start_args = "")
      : dir_(std::move(dir)),
        env_("FWBENCH_SLURM_DIR=" + dir_.string() + " FWBENCH_SLURM_PORT=" + std::to_string(port)) {
    const Shell s = RunShell(env_ + " " + kClusterScript + " start " + start_args);
    started_ = s.code == 0;
    log_ = s.text;
  }
  ~TestCluster() { Stop(); }
  Shell Stop() {
    if (stopped_) return {0, ""};
    stopped_ = true;
    return RunShell(env_ + " " + kClusterScript + " stop");
  }
  Shell Script(const std::string& args) const {
    return RunShell(env_ + " " + kClusterScript + " " + args);
  }
  // Environment assignments for commands that use this cluster.
  std::string Env() const { return "SLURM_CONF=" + (dir_ / "slurm.conf").string(); }
  bool started() const { return started_; }
  const std::string& log() const { return log_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::string env_;
  bool started_ = false;
  bool stopped_ = false;
  std::string log_;
};

// Every key path of a JSON document ("a.b[].c"), arrays' elements merged: its schema, as far as
// two runs of one plan can be compared.
void KeyPaths(const nlohmann::json& j, const std::string& at, std::set<std::string>& out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      std::string path = at;
      path.append(".").append(k);
      out.insert(path);
      KeyPaths(v, path, out);
    }
  } else if (j.is_array()) {
    for (const nlohmann::json& v : j) KeyPaths(v, at + "[]", out);
  }
}

bool WaitFor(const std::function<bool()>& done, double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

class SlurmE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = WhyNoCluster(); !why.empty()) GTEST_SKIP() << why;
  }
};

TEST_F(SlurmE2E, TheQuickPlanRunsAsOneJobStepPerTrialWithTheSameResultsSchemaAsALocalRun) {
  TestCluster cluster("/tmp/fwbench-slurm-e2e-quick", 26800);
  ASSERT_TRUE(cluster.started()) << cluster.log();
  // LibTorch in both modes and the PyTorch worker where it runs: the C++ trial and a Python
  // framework's, each through slurm-task on the nodes.
  const bool pytorch = std::filesystem::exists(fwbench::testing::VenvPython("pytorch"));
  const std::string backends =
      std::string("libtorch,libtorch/compiled") + (pytorch ? ",pytorch" : "");
  const auto out = FreshDir("slurm_quick");
  const auto r = RunFwbench("run --quick --trials 2 --no-report --backends " + backends +
                                " --executor slurm --out " + out.string(),
                            cluster.Env());
  ASSERT_EQ(r.code, 0) << r.text;
  const auto run_dir = RunDir(out);
  const auto trials = ReadLines(run_dir / "trials.jsonl");
  ASSERT_FALSE(trials.empty());
  std::set<std::string> nodes, tasks;
  for (const nlohmann::json& t : trials) {
    EXPECT_EQ(t["status"], "ok") << t.dump();
    nodes.insert(t.value("node", ""));
    tasks.insert(t.value("slurm_job", ""));
  }
  EXPECT_EQ(tasks.size(), trials.size()) << "one array task per trial";
  EXPECT_EQ(nodes, (std::set<std::string>{"n1", "n2"})) << "the trials fanned out to both nodes";
  EXPECT_TRUE(std::filesystem::exists(run_dir / "nodes" / (*nodes.begin() + ".json")));

  // Accounting: exactly one job step (srun's step 0) per trial, named as the executor names it.
  const std::string job = ReadText(run_dir / "slurm" / "job-1.txt").substr(0, 100);
  const Shell acct =
      RunShell(cluster.Env() + " sacct -n -P -o JobID,JobName -j " + job.substr(0, job.find('\n')));
  ASSERT_EQ(acct.code, 0) << acct.text;
  std::set<std::string> steps;
  std::istringstream lines(acct.text);
  for (std::string line; std::getline(lines, line);) {
    const auto bar = line.find('|');
    if (bar == std::string::npos) continue;
    const std::string id = line.substr(0, bar);
    if (id.ends_with(".0")) {
      EXPECT_EQ(line.substr(bar + 1), "fwbench-trial") << line;
      steps.insert(id.substr(0, id.size() - 2));
    }
  }
  EXPECT_EQ(steps, tasks) << acct.text;

  // The same plan on this machine: results.json has the same shape.
  const auto local_out = FreshDir("slurm_quick_local");
  const auto local = RunFwbench("run --quick --trials 2 --no-report --backends " + backends +
                                " --out " + local_out.string());
  ASSERT_EQ(local.code, 0) << local.text;
  std::set<std::string> slurm_keys, local_keys;
  KeyPaths(nlohmann::json::parse(ReadText(run_dir / "results.json")), "", slurm_keys);
  KeyPaths(nlohmann::json::parse(ReadText(RunDir(local_out) / "results.json")), "", local_keys);
  EXPECT_EQ(slurm_keys, local_keys);

  // Tear-down is clean: every process the cluster started (MariaDB, slurmdbd, slurmctld, each
  // node's namespace with its slurmd) has ended, and its folder is gone.
  std::vector<std::string> pids;
  for (const auto& entry : std::filesystem::directory_iterator(cluster.dir())) {
    // slurmd.N.pid holds the slurmd's pid inside its node's namespace (1): node.N.pid is the
    // namespace's, seen from here.
    if (entry.path().extension() == ".pid" &&
        !entry.path().filename().string().starts_with("slurmd.")) {
      const std::string pid = ReadText(entry.path());
      pids.push_back(pid.substr(0, pid.find('\n')));
    }
  }
  EXPECT_EQ(pids.size(), 5u) << "mariadb, slurmdbd, slurmctld, n1, n2";
  const Shell stop = cluster.Stop();
  EXPECT_EQ(stop.code, 0) << stop.text;
  EXPECT_FALSE(std::filesystem::exists(cluster.dir()));
  for (const std::string& pid : pids) {
    // A zombie has ended; only its parent's reaping is left (PID 1's, in a container).
    const std::string status = ReadText("/proc/" + pid + "/status");
    EXPECT_TRUE(status.empty() || status.find("State:\tZ") != std::string::npos)
        << "process " << pid << " is still running:\n"
        << status.substr(0, 200);
  }
}

TEST_F(SlurmE2E, ANodeKilledMidRunGivesRecordedFailuresAndAFinishedRun) {
  TestCluster cluster("/tmp/fwbench-slurm-e2e-kill", 26900);
  ASSERT_TRUE(cluster.started()) << cluster.log();
  const auto out = FreshDir("slurm_kill");
  const std::string log = (out / "run.log").string();
  // Trials of a few seconds each, two at a time (one per node).
  const std::string command = cluster.Env() + " timeout 600 " + FWBENCH_BINARY +
                              " run --quick --backends libtorch --tasks train --trials 6 "
                              "--warmup-trials 0 --no-report --executor slurm --out " +
                              out.string() + " > " + log + " 2>&1";
  std::thread run([&] { RunShell(command + "; echo \"exit $?\" >> " + log); });
  // Once a trial runs on n2, n2 is lost with everything on it.
  const bool busy = WaitFor(
      [&] {
        return RunShell(cluster.Env() + " squeue -h -t RUNNING -w n2 -o %i").text.find('_') !=
               std::string::npos;
      },
      120);
  EXPECT_TRUE(busy) << ReadText(log);
  const Shell kill = cluster.Script("kill-node n2");
  EXPECT_EQ(kill.code, 0) << kill.text;
  run.join();
  const std::string text = ReadText(log);
  EXPECT_NE(text.find("exit 1"), std::string::npos) << "failed trials, finished run:\n" << text;
  const auto run_dir = RunDir(out);
  const auto trials = ReadLines(run_dir / "trials.jsonl");
  EXPECT_EQ(trials.size(), 6u + 0u) << "every scheduled trial recorded";
  int lost = 0, ok = 0;
  for (const nlohmann::json& t : trials) {
    if (t["status"] == "ok") {
      ++ok;
      continue;
    }
    EXPECT_EQ(t["node"], "n2") << t.dump();
    EXPECT_NE(t["reason"].get<std::string>().find("NODE_FAIL"), std::string::npos) << t.dump();
    ++lost;
  }
  EXPECT_GE(lost, 1);
  EXPECT_GE(ok, 1) << "the rest ran on n1";
  EXPECT_TRUE(std::filesystem::exists(run_dir / "results.json"));
}

TEST_F(SlurmE2E, NoControllerAMissingPartitionAndANodeWithoutTheFrameworkAreUsageErrors) {
  // n2 lacks the folder the worker lives in, as a node without the framework would.
  const auto fw = FreshDir("slurm_framework");
  const auto worker = fw / "worker";
  std::filesystem::copy_file(FAKE_WORKER, worker);
  TestCluster cluster("/tmp/fwbench-slurm-e2e-bad", 27000, "--hide n2:" + fw.string());
  ASSERT_TRUE(cluster.started()) << cluster.log();
  const auto out = FreshDir("slurm_bad");
  const std::string quick = "run --quick --trials 1 --no-report --out " + out.string() + " ";

  const auto missing =
      RunFwbench(quick + "--backends libtorch,fake --worker 'fake=" + worker.string() +
                     " ok {spec}' --executor slurm",
                 cluster.Env());
  EXPECT_EQ(missing.code, 2) << missing.text;
  EXPECT_NE(missing.text.find("node n2 cannot run fake: " + worker.string() +
                              " is not an executable file here"),
            std::string::npos)
      << missing.text;
  EXPECT_EQ(missing.text.find("node n1 cannot"), std::string::npos) << missing.text;

  const auto partition = RunFwbench(
      quick + "--backends libtorch --executor slurm --slurm-partition gpu", cluster.Env());
  EXPECT_EQ(partition.code, 2) << partition.text;
  EXPECT_NE(partition.text.find("no partition 'gpu'; its partitions: debug"), std::string::npos)
      << partition.text;

  // The same cluster's configuration once its controller is gone.
  std::filesystem::copy_file(cluster.dir() / "slurm.conf", fw / "stopped.conf");
  const Shell stop = cluster.Stop();
  ASSERT_EQ(stop.code, 0) << stop.text;
  const auto gone = RunFwbench(quick + "--backends libtorch --executor slurm",
                               "SLURM_CONF=" + (fw / "stopped.conf").string());
  EXPECT_EQ(gone.code, 2) << gone.text;
  EXPECT_NE(gone.text.find("no Slurm controller answered"), std::string::npos) << gone.text;
}

}  // namespace
}  // namespace fwbench
