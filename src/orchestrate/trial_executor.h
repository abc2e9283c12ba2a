#pragma once
// Where a run's trial processes run: the seam between the schedule (RunTrials) and the machine.
// The local executor forks each trial here; the Slurm executor (slurm_executor.h) submits the
// whole schedule as one job array and streams each task's stdout back the same way.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "orchestrate/process.h"

namespace fwbench {

// One trial of the schedule, as the executor is told it before the first runs.
struct ScheduledTrial {
  std::string trial_id;
  ProcessOptions options;
};

class TrialExecutor {
 public:
  virtual ~TrialExecutor() = default;
  // Whether the executor takes the whole schedule (Submit) before the first Run.
  virtual bool TakesSchedule() const { return false; }
  // The run's whole schedule, in order, before the first Run, every spec written: a batch
  // system gets it at once. Run is then called for these trials in this order (and a trial that
  // was not announced runs on its own).
  virtual void Submit(const std::filesystem::path& /*run_dir*/,
                      const std::vector<ScheduledTrial>& /*trials*/) {}
  // Runs one trial process to its end; `on_line` gets each stdout line as it arrives.
  virtual ProcessResult Run(const ProcessOptions& options, const LineHandler& on_line) = 0;
  // The running trial's pid on this machine, which the CPU watch reads /proc for; 0 when none
  // runs or it runs elsewhere.
  virtual std::int64_t RunningPid() const = 0;
  // Where the last trial ran, for its record (node, batch job); empty on this machine.
  virtual nlohmann::json LastPlace() const { return nlohmann::json::object(); }
  // The run is stopping (Ctrl-C, SIGTERM, a full disk): what was submitted and did not run yet
  // is withdrawn.
  virtual void Cancel() {}
  // Whether the next trial of the schedule has ended already (it ran elsewhere, beside the one
  // being waited for): a stopping run still records it, since what it measured is on disk.
  virtual bool NextHasEnded() const { return false; }
};

// Forks each trial on this machine (RunProcess: own process group, time limit, rusage).
class LocalExecutor final : public TrialExecutor {
 public:
  ProcessResult Run(const ProcessOptions& options, const LineHandler& on_line) override {
    return RunProcess(options, on_line);
  }
  std::int64_t RunningPid() const override { return RunningProcessId(); }
};

}  // namespace fwbench
