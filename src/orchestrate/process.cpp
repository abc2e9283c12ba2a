#include "orchestrate/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "core/clock.h"

namespace fwbench {

namespace {

std::atomic<pid_t> g_running_pid{0};

void ChildExec(const ProcessOptions& options, int stdout_fd, int stderr_fd) {
  // Own process group, so a timeout kills the trial and everything it started.
  setpgid(0, 0);
  // A trial must not outlive an orchestrator that was killed.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  const int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, STDIN_FILENO);
  dup2(stdout_fd, STDOUT_FILENO);
  if (stderr_fd >= 0) dup2(stderr_fd, STDERR_FILENO);
  std::vector<char*> argv;
  argv.reserve(options.argv.size() + 1);
  for (const std::string& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());
  const std::string message =
      fmt::format("fwbench: cannot execute {}: {}\n", options.argv[0], std::strerror(errno));
  (void)!write(STDERR_FILENO, message.data(), message.size());
  _exit(127);
}

double ToSeconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
}

}  // namespace

std::string DescribeSignal(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  return abbrev != nullptr ? fmt::format("signal {} (SIG{})", signal, abbrev)
                           : fmt::format("signal {}", signal);
}

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

  result.spawn_ns = MonotonicNs();
  const pid_t pid = fork();
  if (pid == 0) ChildExec(options, pipe_fds[1], stderr_fd);
  close(pipe_fds[1]);
  if (stderr_fd >= 0) close(stderr_fd);
  if (pid < 0) {
    result.start_error = fmt::format("fork: {}", std::strerror(errno));
    close(pipe_fds[0]);
    return result;
  }
  result.started = true;
  g_running_pid.store(pid);
  // Also set from the parent: avoids a race where a timeout kill precedes the child's setpgid.
  setpgid(pid, pid);

  const std::int64_t deadline_ns =
      result.spawn_ns + static_cast<std::int64_t>(options.timeout_s * 1e9);
  const auto stop = [&](bool timed_out) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    if (timed_out) result.timed_out = true;
  };

  std::string pending;
  char buffer[65536];
  bool open_stdout = true;
  bool stopped = false;
  while (open_stdout && !stopped) {
    const std::int64_t left_ns = deadline_ns - MonotonicNs();
    if (left_ns <= 0) {
      stop(true);
      stopped = true;
      break;
    }
    pollfd pfd{pipe_fds[0], POLLIN, 0};
    const int timeout_ms = static_cast<int>(std::min<std::int64_t>(left_ns / 1'000'000 + 1, 1000));
    const int ready = poll(&pfd, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    const ssize_t n = read(pipe_fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      open_stdout = false;
      break;
    }
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
  for (;;) {
    const pid_t r = wait4(pid, &status, WNOHANG, &usage);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) break;
    if (!stopped && MonotonicNs() >= deadline_ns) {
      stop(true);
      stopped = true;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  result.exit_ns = MonotonicNs();
  g_running_pid.store(0);
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
