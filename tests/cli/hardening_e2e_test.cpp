// Issue 17 through the CLI: a load test whose server dies mid-test, model repositories whose
// config does not describe a servable model, and a run whose disk fills up.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "linear_repository.h"
#include "run_fwbench.h"
#include "support/serve_fixture.h"

namespace fwbench {
namespace {

using fwbench::testing::FreshDir;
using fwbench::testing::ReadLines;
using fwbench::testing::ReadText;
using fwbench::testing::RunDir;
using fwbench::testing::RunFwbench;
using fwbench::testing::TestServer;
using fwbench::testing::WriteLinearRepository;

// Starts build/fwbench with `args` in the background, its stdout and stderr to `log`; the pid,
// or -1 when fork failed.
pid_t StartFwbench(const std::vector<std::string>& args, const std::string& log) {
  std::vector<char*> argv{const_cast<char*>(FWBENCH_BINARY)};
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(FWBENCH_BINARY, argv.data());
    _exit(127);
  }
  return pid;
}

TEST(HardeningE2E, ALoadTestWhoseServerDiesIsNotValidAndBacksOffBetweenRefusedConnects) {
  const auto dir = FreshDir("hardening_load");
  // The server in a child process, killed as a crashed server would be: the kernel resets its
  // connections and refuses new ones.
  int port_pipe[2];
  ASSERT_EQ(pipe(port_pipe), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    TestServer server;
    const std::string port = server.url.port + "\n";
    if (write(port_pipe[1], port.data(), port.size()) < 0) _exit(1);
    for (;;) pause();
  }
  close(port_pipe[1]);
  char buffer[16] = {};
  const ssize_t n = read(port_pipe[0], buffer, sizeof buffer - 1);
  close(port_pipe[0]);
  ASSERT_GT(n, 0);
  const std::string url =
      "http://127.0.0.1:" + std::to_string(std::atoi(buffer)) + "/v2/health/live";
  const auto json = dir / "load.json";
  auto load = std::async(std::launch::async, [&] {
    return RunFwbench("load " + url + " --protocol raw -c 4 --warmup 0.2 --duration 3 --json " +
                      json.string() + " --quiet");
  });
  // Killed 1.2 s in: the rest of the test finds nobody listening.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  const auto r = load.get();
  EXPECT_EQ(r.code, 1) << r.text;
  EXPECT_NE(r.text.find("NOT VALID"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("could not connect"), std::string::npos) << r.text;
  const auto summary = nlohmann::json::parse(ReadText(json))["summary"];
  EXPECT_FALSE(summary["valid"].get<bool>()) << summary.dump(2);
  ASSERT_TRUE(summary["errors"].contains("connect")) << summary.dump(2);
  const auto refused = summary["errors"]["connect"].get<std::int64_t>();
  // Retried at once, 4 connections made ~200,000 attempts a second; backing off from 1 ms to
  // 100 ms each, they make at most 4 × 30 in the ~1.8 s left.
  EXPECT_GT(refused, 0);
  EXPECT_LT(refused, 400) << "refused connects were retried without pause: " << summary.dump(2);
  EXPECT_GT(summary["ok"].get<std::int64_t>(), 0) << summary.dump(2);
}

// `fwbench serve` on a repository whose config.toml is wrong: exit 2 with the file and field,
// before the port is opened (no port file written).
TEST(HardeningE2E, ServeRefusesAMisdescribedModelBeforeListening) {
  const auto dir = FreshDir("hardening_serve_config");
  const std::string signature =
      "[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [-1, 4]\n"
      "[[outputs]]\nname = \"y\"\ndatatype = \"FP32\"\nshape = [-1, 2]\n";
  const auto serve = [&](const std::string& config, const std::string& model_name = "m") {
    const auto repo = dir / "repo";
    std::filesystem::remove_all(repo);
    std::filesystem::create_directories(repo / model_name / "1");
    std::ofstream(repo / model_name / "config.toml") << config;
    std::ofstream(repo / model_name / "1" / "model.pt") << "x";
    std::filesystem::remove(dir / "port");
    return RunFwbench("serve " + repo.string() + " --port 0 --port-file " +
                      (dir / "port").string());
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {signature + "[batchng]\nmax_batch_size = 4\n", "batchng is not a known key"},
      {"platform = 5\n" + signature, "platform must be a string"},
      {signature + "[batching]\nmax_batch_size = 99999999999\n",
       "batching.max_batch_size must be an integer from 1 to 4096"},
      {signature + "[batching]\nmax_queue_delay_us = 9223372036854775807\n",
       "batching.max_queue_delay_us must be an integer from 0 to 10000000"},
  };
  for (const auto& [config, message] : cases) {
    const auto r = serve(config);
    EXPECT_EQ(r.code, 2) << r.text;
    EXPECT_NE(r.text.find("config.toml"), std::string::npos) << r.text;
    EXPECT_NE(r.text.find(message), std::string::npos) << r.text;
    EXPECT_FALSE(std::filesystem::exists(dir / "port")) << "it listened: " << r.text;
  }
  const auto r = serve(signature, "my model");
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("model folder 'my model'"), std::string::npos) << r.text;

  // Outputs declared otherwise than the model returns them: found by running it once.
  const auto linear = dir / "linear";
  if (const std::string why = WriteLinearRepository(linear); !why.empty()) GTEST_SKIP() << why;
  std::filesystem::remove_all(linear / "ox");
  std::ofstream(linear / "ts" / "config.toml")
      << "[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [-1, 4]\n"
         "[[outputs]]\nname = \"y\"\ndatatype = \"FP32\"\nshape = [-1, 3]\n";
  const auto shape =
      RunFwbench("serve " + linear.string() + " --port 0 --port-file " + (dir / "port").string());
  EXPECT_EQ(shape.code, 2) << shape.text;
  EXPECT_NE(
      shape.text.find((linear / "ts" / "config.toml").string() +
                      ": outputs[0].shape is [-1, 3], but model 'ts' version 1 returns [1, 2]"),
      std::string::npos)
      << shape.text;
  EXPECT_FALSE(std::filesystem::exists(dir / "port")) << shape.text;
}

// A small tmpfs as the run's --out: the disk fills during the run. The run stops with the file
// and "No space left on device", exit 2, and the trials that finished are kept and reported.
TEST(HardeningE2E, ARunWhoseDiskFillsStopsClearlyAndKeepsFinishedTrials) {
  const auto dir = FreshDir("hardening_disk");
  const auto out = dir / "small";
  std::filesystem::create_directories(out);
  if (geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root; this runs as uid " << geteuid();
  if (mount("tmpfs", out.c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "cannot mount a 1 MB tmpfs at " << out << ": " << std::strerror(errno)
                 << " (a container without CAP_SYS_ADMIN)";
  }
  struct Unmount {
    std::filesystem::path at;
    ~Unmount() { umount2(at.c_str(), MNT_DETACH); }
  } unmount{out};
  // The shared weights and data (~45 MB) live on the real disk; the run's own files on the tmpfs.
  std::filesystem::create_directories(dir / "cache");
  std::filesystem::create_directory_symlink(dir / "cache", out / "cache");
  const std::string w = FAKE_WORKER;
  const auto r = RunFwbench(
      "run --quick --trials 4 --tasks infer --batch-sizes 1 --backends fill "
      "--worker 'fill=" +
      w + " fill {spec}' --no-report --out " + out.string());
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("No space left on device"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("run stopped: cannot write " + out.string()), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("fwbench report"), std::string::npos) << r.text;
  const auto run_dir = RunDir(out);
  ASSERT_FALSE(run_dir.empty()) << r.text;
  // The first trial's 600 KB fitted; it is on disk, and reported once there is space again.
  const auto trials = ReadLines(run_dir / "trials.jsonl");
  ASSERT_FALSE(trials.empty()) << r.text;
  EXPECT_EQ(trials[0]["status"], "ok") << trials[0].dump();
  for (const auto& entry : std::filesystem::recursive_directory_iterator(run_dir)) {
    if (entry.path().filename() == "outputs.bin") std::filesystem::remove(entry.path());
  }
  const auto report = RunFwbench("report --json " + run_dir.string());
  ASSERT_EQ(report.code, 0) << report.text;
  const auto results = nlohmann::json::parse(report.text);
  EXPECT_FALSE(results["complete"].get<bool>());
  ASSERT_GE(results["trials"].size(), 1u);
  EXPECT_EQ(results["trials"][0]["status"], "ok");
}

// Ctrl-C during a trial: the trial is recorded as interrupted, not failed, and the summary
// says the run was stopped, not that a trial failed.
TEST(HardeningE2E, ATrialCutShortByCtrlCIsInterruptedNotFailed) {
  const auto out = FreshDir("hardening_interrupt");
  const std::string w = FAKE_WORKER;
  const std::string log = (out / "run.log").string();
  const std::string ok = "quick=" + w + " ok {spec}";
  const std::string hang = "stuck=" + w + " hang {spec}";
  const pid_t pid =
      StartFwbench({"run", "--quick", "--trials", "1", "--tasks", "infer", "--batch-sizes", "1",
                    "--backends", "quick,stuck", "--worker", ok, "--worker", hang,
                    "--trial-timeout-s", "60", "--no-report", "--out", out.string()},
                   log);
  ASSERT_GE(pid, 0);
  // Once the second (hanging) trial has started, as a user would press Ctrl-C.
  bool started = false;
  for (int i = 0; i < 1200 && !started; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    started = ReadText(log).find("[2/2]") != std::string::npos;
  }
  ASSERT_TRUE(started) << ReadText(log);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  const std::string text = ReadText(log);
  ASSERT_TRUE(WIFEXITED(status)) << text;
  EXPECT_EQ(WEXITSTATUS(status), 1) << text;
  EXPECT_NE(text.find("1 trial(s) interrupted and left out; 1 finished"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("trials failed"), std::string::npos) << text;
  const auto records = ReadLines(RunDir(out) / "trials.jsonl");
  ASSERT_EQ(records.size(), 2u) << text;
  EXPECT_EQ(records[0]["status"], "ok");
  EXPECT_EQ(records[1]["status"], "interrupted");
  const auto results = nlohmann::json::parse(ReadText(RunDir(out) / "results.json"));
  EXPECT_EQ(results["trials"].size(), 1u);
  EXPECT_NE(results["warnings"].dump().find("1 interrupted when the run was stopped"),
            std::string::npos)
      << results["warnings"].dump();
}

// The pids of the processes whose parent is `parent` and whose command line has `word` as one
// of its arguments.
std::vector<pid_t> ChildrenWithArgument(pid_t parent, const std::string& word) {
  std::vector<pid_t> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = ReadText(entry.path() / "stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) != 2 || ppid != parent) {
      continue;
    }
    const std::string cmdline = ReadText(entry.path() / "cmdline");
    if (cmdline.find(std::string(1, '\0') + word + '\0') != std::string::npos) {
      out.push_back(std::stoi(name));
    }
  }
  return out;
}

// Gone, or a zombie waiting for init: either way no longer serving.
bool ProcessGone(pid_t pid) {
  const std::string stat = ReadText("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  return stat.empty() ||
         (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z');
}

// SIGKILL leaves fwbench deploy no time to stop the server it started; the server must go with
// it, not keep its port and its memory.
TEST(HardeningE2E, AKilledDeployLeavesNoServerRunning) {
  const auto out = FreshDir("hardening_killed_deploy");
  const std::string log = (out / "deploy.log").string();
  const pid_t pid = StartFwbench({"deploy", "--quick", "--image-size", "32", "--duration", "60",
                                  "--warmup", "0.3", "--bisection-steps", "0", "--start-rate", "20",
                                  "--p99-ms", "3000", "--connections", "4", "--out", out.string()},
                                 log);
  ASSERT_GE(pid, 0);
  std::vector<pid_t> servers;
  for (int i = 0; i < 4800 && servers.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    servers = ChildrenWithArgument(pid, "serve");
    if (waitpid(pid, nullptr, WNOHANG) == pid) break;
  }
  if (servers.empty()) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    FAIL() << "fwbench deploy started no `serve` process within 240 s:\n" << ReadText(log);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    gone = ProcessGone(servers.front());
  }
  if (!gone) kill(servers.front(), SIGKILL);  // leave no server behind this test either
  EXPECT_TRUE(gone) << "server " << servers.front() << " outlived its killed deploy";
}

// The orchestrator's own files nested past the bound (a hand-edited or corrupted results
// folder): one message naming the file, exit 2.
TEST(HardeningE2E, ARunFolderWithJsonNestedPastTheBoundIsAClearError) {
  const auto dir = FreshDir("hardening_deep_results");
  std::ofstream(dir / "manifest.json") << std::string(100'000, '[') << std::string(100'000, ']');
  const auto r = RunFwbench("report " + dir.string());
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find((dir / "manifest.json").string() + ": JSON nests arrays or objects "
                                                           "more than 64 levels deep"),
            std::string::npos)
      << r.text.substr(0, 500);
}

}  // namespace
}  // namespace fwbench
