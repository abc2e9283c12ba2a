#include "orchestrate/ddp_launch.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/free_port.h"
#include "orchestrate/builtin_workers.h"
#include "orchestrate/slurm_executor.h"

extern char** environ;

namespace fwbench {

namespace {

// The interface every rank's collectives bind to inside a host namespace.
constexpr char kHostIfname[] = "fwbnet";
// Ports inside a fresh namespace are all free; each rank of a host takes its own.
constexpr int kHostBasePort = 29500;

std::atomic<int> g_stop_signal{0};
void OnStopSignal(int sig) { g_stop_signal = sig; }

std::filesystem::path IpProgram() {
  for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (IsExecutableFile(p)) return p;
  }
  return FindOnPath("ip");
}

// The hosts' network namespaces, held open by file descriptors and unnamed as soon as they are
// set up: they vanish with the launcher, whatever way it ends.
class HostNetwork {
 public:
  explicit HostNetwork(int hosts) {
    if (hosts <= 1) return;
    ip_ = IpProgram().string();
    const std::string tag = fmt::format("fwb{}", ::getpid());
    const std::string sw = tag + "-sw";
    try {
      AddNamespace(sw);
      Ip({"-n", sw, "link", "add", "br0", "type", "bridge"});
      Ip({"-n", sw, "link", "set", "br0", "up"});
      for (int h = 0; h < hosts; ++h) {
        const std::string ns = fmt::format("{}-h{}", tag, h);
        const std::string port = fmt::format("p{}", h);
        AddNamespace(ns);
        Ip({"link", "add", kHostIfname, "netns", ns, "type", "veth", "peer", "name", port, "netns",
            sw});
        Ip({"-n", sw, "link", "set", port, "master", "br0"});
        Ip({"-n", sw, "link", "set", port, "up"});
        Ip({"-n", ns, "addr", "add", fmt::format("{}/24", HostIp(h)), "dev", kHostIfname});
        Ip({"-n", ns, "link", "set", kHostIfname, "up"});
        Ip({"-n", ns, "link", "set", "lo", "up"});
      }
    } catch (...) {
      Unname();
      throw;
    }
    Unname();
  }
  ~HostNetwork() {
    for (const auto& [name, fd] : fds_) ::close(fd);
  }
  HostNetwork(const HostNetwork&) = delete;
  HostNetwork& operator=(const HostNetwork&) = delete;

  static std::string HostIp(int host) { return fmt::format("10.231.0.{}", host + 1); }
  // The namespace of host `h` (-1 on a single host: the launcher's own).
  int FdOfHost(int h) const {
    const auto it = fds_.find(fmt::format("fwb{}-h{}", ::getpid(), h));
    return it == fds_.end() ? -1 : it->second;
  }

 private:
  void Ip(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {ip_};
    argv.insert(argv.end(), args.begin(), args.end());
    const CommandOutput out = RunCommand(argv, 30.0);
    if (!out.started || out.exit_code != 0) {
      throw UsageError(fmt::format("ddp hosts: `{}` failed: {}", fmt::join(argv, " "),
                                   out.started ? out.err : "could not start"));
    }
  }
  void AddNamespace(const std::string& name) {
    Ip({"netns", "add", name});
    named_.push_back(name);
    const int fd = ::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      throw std::runtime_error(
          fmt::format("cannot open /run/netns/{}: {}", name, std::strerror(errno)));
    }
    fds_[name] = fd;
  }
  void Unname() {
    for (const std::string& name : named_) RunCommand({ip_, "netns", "delete", name}, 30.0);
    named_.clear();
  }

  std::string ip_;
  std::vector<std::string> named_;
  std::map<std::string, int> fds_;
};

struct Rank {
  pid_t pid = -1;
  bool running = false;
  int status = 0;
  std::filesystem::path stderr_path;
};

std::string LastLine(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  }
  return last;
}

std::string Describe(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with code {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return fmt::format("was killed by signal {} ({})", WTERMSIG(status),
                       sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
  }
  return "ended";
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

}  // namespace

int DdpHostOfRank(int rank, int processes, int hosts) {
  const int per_host = processes / hosts;
  return rank / per_host;
}

std::string DdpHostsUnavailableReason(int hosts) {
  if (hosts <= 1) return "";
  if (::geteuid() != 0) {
    return fmt::format(
        "{} ddp hosts are network namespaces of this machine, which only root can make (run as "
        "root, or ddp.hosts = [1])",
        hosts);
  }
  if (IpProgram().empty()) {
    return "ddp hosts are network namespaces made with iproute2's `ip`, which is not installed "
           "(apt-get install iproute2)";
  }
  return "";
}

int RunDdpLaunch(const DdpLaunchOptions& o) {
  if (o.processes < 1 || o.hosts < 1 || o.processes % o.hosts != 0) {
    throw UsageError(
        fmt::format("ddp-launch: --processes ({}) must be a positive multiple of --hosts ({})",
                    o.processes, o.hosts));
  }
  if (o.command.empty()) throw UsageError("ddp-launch: no command after --");
  if (std::string why = DdpHostsUnavailableReason(o.hosts); !why.empty()) throw UsageError(why);
  std::filesystem::create_directories(o.log_dir);

  HostNetwork network(o.hosts);
  std::vector<std::string> addrs;
  std::vector<int> next_port(static_cast<std::size_t>(o.hosts), kHostBasePort);
  for (int r = 0; r < o.processes; ++r) {
    if (o.hosts == 1) {
      addrs.push_back(fmt::format("127.0.0.1:{}", FreeLoopbackPort()));
    } else {
      const int h = DdpHostOfRank(r, o.processes, o.hosts);
      addrs.push_back(
          fmt::format("{}:{}", HostNetwork::HostIp(h), next_port[static_cast<std::size_t>(h)]++));
    }
  }
  const std::string ifname = o.hosts == 1 ? "lo" : kHostIfname;
  const std::string master = addrs.front().substr(0, addrs.front().rfind(':'));
  const std::string master_port = addrs.front().substr(addrs.front().rfind(':') + 1);

  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(sig, &sa, nullptr);

  std::vector<Rank> ranks(static_cast<std::size_t>(o.processes));
  const auto kill_all = [&] {
    for (Rank& rk : ranks) {
      if (!rk.running) continue;
      ::kill(-rk.pid, SIGKILL);
      ::kill(rk.pid, SIGKILL);
    }
  };
  for (int r = 0; r < o.processes; ++r) {
    Rank& rk = ranks[static_cast<std::size_t>(r)];
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
    for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
             {"FWBENCH_DDP_RANK", std::to_string(r)},
             {"FWBENCH_DDP_ADDRS", fmt::format("{}", fmt::join(addrs, ","))},
             {"FWBENCH_DDP_IFNAME", ifname},
             {"GLOO_SOCKET_IFNAME", ifname},
             {"MASTER_ADDR", master},
             {"MASTER_PORT", master_port},
             {"RANK", std::to_string(r)},
             {"WORLD_SIZE", std::to_string(o.processes)},
             {"LOCAL_RANK", std::to_string(r % (o.processes / o.hosts))}}) {
      std::string assignment = k;
      assignment += '=';
      assignment += v;
      env.push_back(std::move(assignment));
    }
    int out_fd = -1, err_fd = -1;
    if (r > 0) {
      rk.stderr_path = o.log_dir / fmt::format("rank{}.stderr.log", r);
      out_fd = ::open((o.log_dir / fmt::format("rank{}.stdout.jsonl", r)).c_str(),
                      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      err_fd = ::open(rk.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (out_fd < 0 || err_fd < 0) {
        kill_all();
        throw std::runtime_error(fmt::format("cannot write rank {}'s logs in {}: {}", r,
                                             o.log_dir.string(), std::strerror(errno)));
      }
    }
    const int ns_fd = o.hosts > 1 ? network.FdOfHost(DdpHostOfRank(r, o.processes, o.hosts)) : -1;
    std::vector<char*> argv, envp;
    for (const std::string& a : o.command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      kill_all();
      throw std::runtime_error(fmt::format("fork(): {}", std::strerror(errno)));
    }
    if (pid == 0) {
      // Each rank leads a process group of its own (so that a failed trial's ranks end with
      // their children) and dies with the launcher.
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      for (int sig : {SIGTERM, SIGINT, SIGHUP}) ::signal(sig, SIG_DFL);
      if (ns_fd >= 0 && ::setns(ns_fd, CLONE_NEWNET) != 0) {
        std::fprintf(stderr, "ddp-launch: rank %d cannot enter its host's namespace: %s\n", r,
                     std::strerror(errno));
        ::_exit(127);
      }
      if (out_fd >= 0) ::dup2(out_fd, STDOUT_FILENO);
      if (err_fd >= 0) ::dup2(err_fd, STDERR_FILENO);
      ::execve(argv[0], argv.data(), envp.data());
      std::fprintf(stderr, "ddp-launch: cannot start rank %d (%s): %s\n", r, argv[0],
                   std::strerror(errno));
      ::_exit(127);
    }
    // Both sides set the group, so that a kill right after the fork finds it (the child may not
    // have run yet on a busy machine: a rank then outlived its failed trial by 50 s).
    ::setpgid(pid, pid);
    if (out_fd >= 0) ::close(out_fd);
    if (err_fd >= 0) ::close(err_fd);
    rk.pid = pid;
    rk.running = true;
  }

  // The first rank to fail decides; the others cannot finish without it.
  int failed = -1;
  int remaining = o.processes;
  std::chrono::steady_clock::time_point rank0_done{};
  while (remaining > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (std::size_t r = 0; r < ranks.size(); ++r) {
        if (ranks[r].pid != pid || !ranks[r].running) continue;
        ranks[r].running = false;
        ranks[r].status = status;
        --remaining;
        const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!ok && failed < 0) {
          failed = static_cast<int>(r);
          kill_all();
        }
        if (r == 0 && ok) rank0_done = std::chrono::steady_clock::now();
      }
      continue;
    }
    if (pid < 0 && errno != EINTR && errno != 0) break;
    if (g_stop_signal != 0) {
      kill_all();
      failed = failed < 0 ? 0 : failed;
    }
    // Rank 0 finished its steps; a rank that does not follow within a minute is stuck.
    if (rank0_done != std::chrono::steady_clock::time_point{} &&
        std::chrono::steady_clock::now() - rank0_done > std::chrono::seconds(60) && failed < 0) {
      for (std::size_t r = 1; r < ranks.size(); ++r) {
        if (ranks[r].running) {
          failed = static_cast<int>(r);
          break;
        }
      }
      kill_all();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (g_stop_signal != 0) return 128 + g_stop_signal;
  if (failed < 0) return 0;
  const Rank& rank0 = ranks.front();
  if (failed == 0) {
    // A rank 0 killed by a signal is reported as one, as a trial of its own would be.
    if (WIFSIGNALED(rank0.status)) {
      ::signal(WTERMSIG(rank0.status), SIG_DFL);
      ::raise(WTERMSIG(rank0.status));
    }
    return ExitCodeOf(rank0.status);
  }
  const Rank& bad = ranks[static_cast<std::size_t>(failed)];
  const std::string last = LastLine(bad.stderr_path);
  const nlohmann::json error = {
      {"event", "error"},
      {"kind", "runtime"},
      {"message", fmt::format("ddp rank {} of {} {}{}{} (its log: {})", failed, o.processes,
                              Describe(bad.status), last.empty() ? "" : ": ", last,
                              bad.stderr_path.string())}};
  std::fputs((error.dump() + "\n").c_str(), stdout);
  std::fflush(stdout);
  return 1;
}

}  // namespace fwbench
