#pragma once
// Progress of a run for the person waiting on it: on a terminal, one live line per trial
// (trial i of n, configuration, current phase or step, elapsed and estimated remaining time);
// otherwise (CI logs) one plain line per trial that starts with a UTC timestamp.
#include <chrono>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

namespace fwbench {

class RunProgress {
 public:
  RunProgress(std::ostream& out, bool live, int total_trials);

  void TrialStarted(int index, const std::string& config, int repetition, int repetitions);
  // Each accepted protocol event of the running trial (live mode redraws, at most 10 per s).
  void OnEvent(const nlohmann::json& event);
  void TrialEnded(const std::string& outcome);  // "ok, 20 steps in 2.4 s" or "FAILED …"

  // "1:05" for 65 s; "~2:10 left" estimates from the mean duration of the finished trials.
  static std::string Clock(double seconds);

 private:
  std::string Head() const;
  std::string Timing() const;

  std::ostream& out_;
  bool live_;
  int total_;
  int index_ = 0;
  int done_ = 0;
  std::string trial_;
  std::chrono::steady_clock::time_point run_start_, trial_start_, last_draw_;
  double finished_s_ = 0.0;  // summed wall time of finished trials
};

}  // namespace fwbench
