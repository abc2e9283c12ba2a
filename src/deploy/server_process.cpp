#include "deploy/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/child_exec.h"
#include "core/proc_stat.h"

extern char** environ;

namespace fwbench::deploy {

ServerProcess::ServerProcess(const std::vector<std::string>& argv, const std::filesystem::path& log,
                             const std::vector<std::pair<std::string, std::string>>& env)
    : log_(log) {
  if (argv.empty()) throw std::invalid_argument("ServerProcess: empty argv");
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw std::runtime_error(
        fmt::format("cannot write {}: {}", log.string(), std::strerror(errno)));
  }
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // Everything the child needs is built before fork() (core/child_exec.h).
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string key = entry.substr(0, entry.find('='));
    const bool overridden =
        std::any_of(env.begin(), env.end(), [&](const auto& kv) { return kv.first == key; });
    if (!overridden) env_strings.push_back(entry);
  }
  for (const auto& [k, v] : env) env_strings.push_back(fmt::format("{}={}", k, v));
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string exec_failed = fmt::format("cannot start {}\n", argv[0]);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(fd);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  // A server must not outlive a deploy that was killed (SIGKILL leaves no time to stop it).
  if (pid_ == 0) ExecInChild(args.data(), envp.data(), exec_failed, fd, fd, parent);
  ::setpgid(pid_, pid_);
  ::close(fd);
}

ServerProcess::~ServerProcess() {
  if (!exited_ && pid_ > 0) Stop(2.0);
}

bool ServerProcess::Running() {
  if (exited_) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

namespace {

// `key` of /proc/PID/status summed over the process group `pgid`: the server and every process
// it started (TorchServe's launcher, Java frontend and Python workers; a one-process server's
// figure is its own).
std::int64_t SumOverGroup(pid_t pgid, const std::string& key) {
  std::int64_t sum = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid = entry.path().filename().string();
    if (pid.empty() || !std::all_of(pid.begin(), pid.end(), ::isdigit)) continue;
    std::ifstream in(entry.path() / "stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    // "PID (comm) STATE PPID PGRP …": comm may hold spaces and parentheses.
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    std::string state;
    long long ppid = 0;
    long long pgrp = 0;
    if (!(rest >> state >> ppid >> pgrp) || pgrp != pgid) continue;
    sum += ProcStatusBytes(pid, key).value_or(0);
  }
  return sum;
}

}  // namespace

std::int64_t ServerProcess::RssBytes() const { return SumOverGroup(pid_, "VmRSS"); }

std::int64_t ServerProcess::PeakRssBytes() const { return SumOverGroup(pid_, "VmHWM"); }

int ServerProcess::Stop(double grace_s) {
  // The whole group stops: a launcher (TorchServe's) can exit before the processes it started.
  const auto group_alive = [this] { return ::kill(-pid_, 0) == 0; };
  if (!Running() && !group_alive()) return exit_code_;
  ::kill(-pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<std::int64_t>(grace_s * 1000));
  while (std::chrono::steady_clock::now() < deadline) {
    if (!Running() && !group_alive()) return exit_code_;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(-pid_, SIGKILL);
  if (!exited_) {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exited_ = true;
  }
  exit_code_ = 128 + SIGKILL;
  return exit_code_;
}

std::string ServerProcess::LogTail(std::size_t bytes) const {
  std::ifstream in(log_, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), {});
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

}  // namespace fwbench::deploy
