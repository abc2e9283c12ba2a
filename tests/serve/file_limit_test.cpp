// The connection limit against the process's open-file limit. The limits are lowered in a
// forked child: a lowered hard limit cannot be raised again, and the test binary goes on.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "serve/file_limit.h"

namespace fwbench::serve {
namespace {

// In the child: 0 when every check holds, else the number of the first that failed (printed).
int CheckUnderLowLimits(rlim_t hard) {
  rlimit low{200, hard};
  if (setrlimit(RLIMIT_NOFILE, &low) != 0) return std::perror("setrlimit"), 1;
  const ConnectionLimit fitted = FitConnectionsToFileLimit(4096);
  rlimit now{};
  getrlimit(RLIMIT_NOFILE, &now);
  if (now.rlim_cur != hard) {
    std::fprintf(stderr, "soft limit %llu, expected it raised to the hard %llu\n",
                 static_cast<unsigned long long>(now.rlim_cur),
                 static_cast<unsigned long long>(hard));
    return 2;
  }
  if (fitted.connections != hard - 64) {
    std::fprintf(stderr, "%zu connections, expected %llu\n", fitted.connections,
                 static_cast<unsigned long long>(hard - 64));
    return 3;
  }
  if (fitted.note.find("open-file limit is " + std::to_string(hard)) == std::string::npos) {
    std::fprintf(stderr, "note: '%s'\n", fitted.note.c_str());
    return 4;
  }
  const ConnectionLimit small = FitConnectionsToFileLimit(100);
  if (small.connections != 100 || !small.note.empty()) {
    std::fprintf(stderr, "100 wanted: %zu, note '%s'\n", small.connections, small.note.c_str());
    return 5;
  }
  return 0;
}

TEST(FileLimit, TheSoftLimitIsRaisedToTheHardOneAndConnectionsFitUnderIt) {
  rlimit original{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &original), 0);
  if (original.rlim_max < 400) {
    GTEST_SKIP() << "the hard open-file limit here is " << original.rlim_max
                 << ", below the 400 this test lowers it to";
  }
  std::fflush(nullptr);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(CheckUnderLowLimits(400));
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "see the child's message above";
}

}  // namespace
}  // namespace fwbench::serve
