// Progress output: timestamped plain lines for logs, a live line on a terminal.
#include "orchestrate/run_progress.h"

#include <gtest/gtest.h>

#include <regex>
#include <sstream>

namespace fwbench {
namespace {

TEST(RunProgress, PlainLinesStartWithAUtcTimestampAndEstimateWhatIsLeft) {
  std::ostringstream out;
  RunProgress p(out, /*live=*/false, 3);
  p.TrialStarted(1, "x/eager/infer/b1", 1, 3);
  p.OnEvent({{"event", "phase"}, {"name", "build"}});  // not shown in logs
  p.TrialEnded("ok, 20 steps in 1.0 s");
  p.TrialStarted(2, "x/eager/infer/b1", 2, 3);
  p.TrialEnded("FAILED after 0.1 s: exited with code 1");
  const std::string text = out.str();
  EXPECT_TRUE(std::regex_search(
      text,
      std::regex(
          R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[1/3\] x/eager/infer/b1 \(trial 1/3\) … ok, 20 steps in 1\.0 s · \d+:\d\d elapsed, ~\d+:\d\d left\n)")))
      << text;
  EXPECT_NE(text.find("[2/3] x/eager/infer/b1 (trial 2/3) … FAILED after 0.1 s"),
            std::string::npos);
  EXPECT_EQ(text.find("build"), std::string::npos);
  EXPECT_EQ(text.find('\r'), std::string::npos);
}

TEST(RunProgress, LiveLineShowsThePhaseAndEndsWithTheOutcome) {
  std::ostringstream out;
  RunProgress p(out, /*live=*/true, 2);
  p.TrialStarted(1, "x/eager/train/b16", 1, 1);
  p.OnEvent({{"event", "phase"}, {"name", "load_weights"}});
  p.TrialEnded("ok, 20 steps in 3.0 s");
  const std::string text = out.str();
  EXPECT_NE(text.find("\r\033[K[1/2] x/eager/train/b16 (trial 1/1) · phase load_weights"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\r\033[K[1/2] x/eager/train/b16 (trial 1/1) … ok, 20 steps in 3.0 s\n"),
            std::string::npos);
}

TEST(RunProgress, ClockFormatsMinutesAndHours) {
  EXPECT_EQ(RunProgress::Clock(65.4), "1:05");
  EXPECT_EQ(RunProgress::Clock(3725), "1:02:05");
  EXPECT_EQ(RunProgress::Clock(-3), "0:00");
}

}  // namespace
}  // namespace fwbench
