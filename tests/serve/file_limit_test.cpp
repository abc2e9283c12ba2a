// The connection limit against the process's open-file limit. ctest runs every test in its own
// process, so lowering this process's limits here touches no other test.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include "serve/file_limit.h"

namespace fwbench::serve {
namespace {

TEST(FileLimit, TheSoftLimitIsRaisedToTheHardOneAndConnectionsFitUnderIt) {
  rlimit original{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &original), 0);
  const rlim_t hard = std::min<rlim_t>(original.rlim_max, 400);
  rlimit low{200, hard};
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);

  const ConnectionLimit fitted = FitConnectionsToFileLimit(4096);
  rlimit now{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(now.rlim_cur, hard) << "soft limit raised to the hard one";
  EXPECT_EQ(fitted.connections, hard - 64);
  EXPECT_NE(fitted.note.find("open-file limit is " + std::to_string(hard)), std::string::npos)
      << fitted.note;

  const ConnectionLimit small = FitConnectionsToFileLimit(100);
  EXPECT_EQ(small.connections, 100u);
  EXPECT_EQ(small.note, "");
}

}  // namespace
}  // namespace fwbench::serve
