#pragma once
// The one way fwbench starts a program it measures or serves (trials, servers under test):
// what the forked child does before exec. Everything it needs is prepared before fork(),
// since between fork and exec a threaded process may only make async-signal-safe calls.
#include <sys/types.h>

#include <string>

namespace fwbench {

// Runs in the forked child and never returns: its own process group (a kill of the group
// reaches everything it starts), killed with SIGKILL when fwbench dies (PR_SET_PDEATHSIG, and
// at once if fwbench died before that was set: `parent` is fwbench's pid taken before fork),
// stdin from /dev/null, stdout and stderr to the given descriptors (stderr left alone when
// negative), then execvpe. When exec fails it writes `exec_error` to stderr and exits 127.
[[noreturn]] void ExecInChild(char* const* argv, char* const* envp, const std::string& exec_error,
                              int stdout_fd, int stderr_fd, pid_t parent);

}  // namespace fwbench
