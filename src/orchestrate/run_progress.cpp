#include "orchestrate/run_progress.h"

#include <fmt/format.h>

#include <cmath>

#include "core/utc_time.h"

namespace fwbench {

namespace {
double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

RunProgress::RunProgress(std::ostream& out, bool live, int total_trials)
    : out_(out), live_(live), total_(total_trials), run_start_(std::chrono::steady_clock::now()) {}

std::string RunProgress::Clock(double seconds) {
  const auto s = static_cast<long>(std::lround(std::max(0.0, seconds)));
  return s >= 3600 ? fmt::format("{}:{:02d}:{:02d}", s / 3600, (s / 60) % 60, s % 60)
                   : fmt::format("{}:{:02d}", s / 60, s % 60);
}

std::string RunProgress::Head() const { return fmt::format("[{}/{}] {}", index_, total_, trial_); }

std::string RunProgress::Timing() const {
  std::string text = fmt::format("{} elapsed", Clock(Since(run_start_)));
  if (done_ > 0) {
    const double per_trial = finished_s_ / done_;
    const double left = per_trial * (total_ - done_) - (live_ ? Since(trial_start_) : 0.0);
    text += fmt::format(", ~{} left", Clock(left));
  }
  return text;
}

void RunProgress::TrialStarted(int index, const std::string& config, int repetition,
                               int repetitions) {
  index_ = index;
  trial_ = fmt::format("{} (trial {}/{})", config, repetition, repetitions);
  trial_start_ = std::chrono::steady_clock::now();
  if (live_) {
    out_ << fmt::format("\r\033[K{} · starting · {}", Head(), Timing()) << std::flush;
  } else {
    out_ << fmt::format("{} {} … ", UtcTimestamp("%Y-%m-%dT%H:%M:%SZ"), Head()) << std::flush;
  }
}

void RunProgress::OnEvent(const nlohmann::json& event) {
  if (!live_ || Since(last_draw_) < 0.1) return;
  const std::string kind = event.value("event", "");
  std::string what;
  if (kind == "phase")
    what = "phase " + event.value("name", "?");
  else if (kind == "step")
    what = fmt::format("step {}", event.value("i", 0));
  else if (kind == "hello")
    what = "started";
  else
    return;
  last_draw_ = std::chrono::steady_clock::now();
  out_ << fmt::format("\r\033[K{} · {} · {}", Head(), what, Timing()) << std::flush;
}

void RunProgress::TrialEnded(const std::string& outcome) {
  ++done_;
  finished_s_ += Since(trial_start_);
  if (live_) {
    out_ << fmt::format("\r\033[K{} … {}\n", Head(), outcome) << std::flush;
  } else {
    out_ << fmt::format("{} · {}\n", outcome, Timing()) << std::flush;
  }
}

}  // namespace fwbench
