#include "core/child_exec.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace fwbench {

void ExecInChild(char* const* argv, char* const* envp, const std::string& exec_error,
                 int stdout_fd, int stderr_fd, pid_t parent) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(126);
  const int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) {
    dup2(devnull, STDIN_FILENO);
    close(devnull);
  }
  dup2(stdout_fd, STDOUT_FILENO);
  if (stderr_fd >= 0) dup2(stderr_fd, STDERR_FILENO);
  execvpe(argv[0], argv, envp);
  (void)!write(STDERR_FILENO, exec_error.data(), exec_error.size());
  _exit(127);
}

}  // namespace fwbench
