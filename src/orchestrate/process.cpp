#include "orchestrate/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "core/child_exec.h"
#include "core/clock.h"
#include "core/proc_stat.h"

namespace fwbench {

namespace {

std::atomic<pid_t> g_running_pid{0};

double ToSeconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
}

}  // namespace

std::string DescribeSignal(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  return abbrev != nullptr ? fmt::format("signal {} (SIG{})", signal, abbrev)
                           : fmt::format("signal {}", signal);
}

std::int64_t RunningProcessId() { return g_running_pid.load(); }

void KillRunningProcess() {
  const pid_t pid = g_running_pid.load();
  if (pid > 0) kill(-pid, SIGKILL);
}

ProcessResult RunProcess(const ProcessOptions& options, const LineHandler& on_line) {
  ProcessResult result;
  if (options.argv.empty()) {
    result.start_error = "empty command";
    return result;
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    result.start_error = fmt::format("pipe: {}", std::strerror(errno));
    return result;
  }
  int stderr_fd = -1;
  if (!options.stderr_path.empty()) {
    stderr_fd = open(options.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (stderr_fd < 0) {
      result.start_error =
          fmt::format("cannot create {}: {}", options.stderr_path.string(), std::strerror(errno));
      close(pipe_fds[0]);
      close(pipe_fds[1]);
      return result;
    }
  }

  std::vector<char*> argv;
  argv.reserve(options.argv.size() + 1);
  for (const std::string& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // The child's environment: ours, with options.env replacing entries of the same name.
  std::vector<char*> envp;
  auto overridden = [&](std::string_view entry) {
    const std::string_view name = entry.substr(0, entry.find('='));
    return std::any_of(options.env.begin(), options.env.end(), [&](const std::string& e) {
      return std::string_view(e).substr(0, e.find('=')) == name;
    });
  };
  for (char** e = environ; *e != nullptr; ++e) {
    if (!overridden(*e)) envp.push_back(*e);
  }
  for (const std::string& e : options.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const std::string exec_error = fmt::format(
      "fwbench: cannot execute {} (is it installed and on "
      "PATH?)\n",
      options.argv[0]);
  const pid_t parent = getpid();

  result.spawn_ns = MonotonicNs();
  const pid_t pid = fork();
  if (pid == 0) ExecInChild(argv.data(), envp.data(), exec_error, pipe_fds[1], stderr_fd, parent);
  close(pipe_fds[1]);
  if (stderr_fd >= 0) close(stderr_fd);
  if (pid < 0) {
    result.start_error = fmt::format("fork: {}", std::strerror(errno));
    close(pipe_fds[0]);
    return result;
  }
  result.started = true;
  // Also set from the parent, before the pid is published: a kill of the group (timeout or
  // Ctrl-C) must not race the child's own setpgid.
  setpgid(pid, pid);
  if (options.is_trial) g_running_pid.store(pid);

  const std::int64_t deadline_ns =
      result.spawn_ns + static_cast<std::int64_t>(options.timeout_s * 1e9);
  const auto stop = [&](bool timed_out) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    if (timed_out) result.timed_out = true;
  };

  // Only from the first line on: before exec, /proc shows the child's copy of fwbench.
  bool exec_seen = false;
  std::int64_t next_rss_sample_ns = 0;
  const std::string pid_text = std::to_string(pid);
  const auto sample_rss = [&] {
    if (!exec_seen) return;
    const std::int64_t now = MonotonicNs();
    if (now < next_rss_sample_ns) return;
    next_rss_sample_ns = now + 50'000'000;
    if (const auto hwm = ProcStatusBytes(pid_text, "VmHWM")) {
      result.peak_rss_bytes = std::max(result.peak_rss_bytes, *hwm);
    }
  };

  std::string pending;
  char buffer[65536];
  bool open_stdout = true;
  bool stopped = false;
  bool child_exited = false;
  while (open_stdout && !stopped) {
    sample_rss();
    const std::int64_t left_ns = deadline_ns - MonotonicNs();
    if (left_ns <= 0) {
      stop(true);
      stopped = true;
      break;
    }
    pollfd pfd{pipe_fds[0], POLLIN, 0};
    const int timeout_ms =
        static_cast<int>(std::min<std::int64_t>(left_ns / 1'000'000 + 1, exec_seen ? 100 : 1000));
    const int ready = poll(&pfd, 1, child_exited ? 100 : timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0 && child_exited) break;  // drained what the trial wrote before it exited
    if (ready <= 0) {
      // The trial may have exited while something it started still holds stdout open: then
      // the trial is over, not hanging. WNOWAIT leaves the zombie for wait4 below.
      siginfo_t info{};
      if (!child_exited &&
          waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
          info.si_pid == pid) {
        child_exited = true;
      }
      continue;
    }
    const ssize_t n = read(pipe_fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      open_stdout = false;
      break;
    }
    exec_seen = true;
    pending.append(buffer, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl = pending.find('\n', start); nl != std::string::npos;
         nl = pending.find('\n', start)) {
      if (!on_line(std::string_view(pending).substr(start, nl - start))) {
        result.stopped_by_reader = true;
        stop(false);
        stopped = true;
        break;
      }
      start = nl + 1;
    }
    pending.erase(0, start);
    if (!stopped && pending.size() > options.max_line_bytes) {
      result.line_too_long = true;
      stop(false);
      stopped = true;
    }
  }
  // A final line without a newline still counts (a worker may exit without one).
  if (!stopped && !pending.empty() && !on_line(pending)) result.stopped_by_reader = true;
  close(pipe_fds[0]);

  // stdout closed: the process is exiting or hangs with stdout closed; keep the deadline.
  int status = 0;
  rusage usage{};
  int backoff_us = 100;
  for (;;) {
    sample_rss();
    const pid_t r = wait4(pid, &status, WNOHANG, &usage);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) break;
    if (!stopped && MonotonicNs() >= deadline_ns) {
      stop(true);
      stopped = true;
    }
    // Back off from 100 us to 5 ms: exit time stays precise for a normal exit, and a trial
    // that closed stdout but keeps running does not cost the machine thousands of wake-ups.
    std::this_thread::sleep_for(std::chrono::microseconds(backoff_us));
    backoff_us = std::min(backoff_us * 2, 5000);
  }
  result.exit_ns = MonotonicNs();
  if (options.is_trial) g_running_pid.store(0);
  // Reap anything the trial left in its group.
  kill(-pid, SIGKILL);

  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.term_signal = WTERMSIG(status);
  }
  result.max_rss_bytes = static_cast<std::int64_t>(usage.ru_maxrss) * 1024;
  result.user_cpu_s = ToSeconds(usage.ru_utime);
  result.sys_cpu_s = ToSeconds(usage.ru_stime);
  return result;
}

}  // namespace fwbench
