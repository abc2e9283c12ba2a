#include "orchestrate/process.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace fwbench {
namespace {

constexpr std::int64_t kMiB = 1 << 20;

ProcessResult RunQuietly(std::vector<std::string> argv) {
  ProcessOptions options;
  options.argv = std::move(argv);
  options.timeout_s = 60;
  return RunProcess(options, [](std::string_view) { return true; });
}

// Linux starts a child's ru_maxrss at what its copy of the parent held when it exec'd: with
// wait4's figure, every small trial read as large as fwbench itself (192 MiB for a 57 MiB ONNX
// Runtime trial).
TEST(RunProcess, PeakRssIsTheProgramsOwnNotTheParentsAtFork) {
  std::vector<char> ballast(static_cast<std::size_t>(256 * kMiB));
  for (std::size_t i = 0; i < ballast.size(); i += 4096) ballast[i] = 1;  // resident, not reserved
  const ProcessResult r = RunQuietly({"/bin/sh", "-c", "echo started; sleep 0.3"});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(ballast[4096], 1);
  EXPECT_GT(r.peak_rss_bytes, 0);
  EXPECT_LT(r.peak_rss_bytes, 64 * kMiB) << "wait4 said " << r.max_rss_bytes / kMiB << " MiB";
}

TEST(RunProcess, PeakRssSeesWhatTheProgramAllocates) {
  const ProcessResult r = RunQuietly({"python3", "-c",
                                      "import time\n"
                                      "b = b'\\x01' * (96 << 20)\n"
                                      "print('allocated', flush=True)\n"
                                      "time.sleep(0.3)\n"});
  ASSERT_EQ(r.exit_code, 0) << "python3 is needed for this test";
  EXPECT_GE(r.peak_rss_bytes, 96 * kMiB);
  EXPECT_LT(r.peak_rss_bytes, 200 * kMiB);
}

TEST(RunProcess, APeakIsNotReadBeforeTheProgramWritesALine) {
  // Before its first line the child may not have exec'd yet: /proc would show fwbench's copy.
  const ProcessResult r = RunQuietly({"/bin/sh", "-c", "sleep 0.2"});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.peak_rss_bytes, 0);
}

}  // namespace
}  // namespace fwbench
