#pragma once
// Where a run's trial processes run: the seam between the schedule (RunTrials) and the machine.
// The local executor forks each trial here; an executor for a batch system (Slurm) would
// submit it and stream its stdout back the same way.
#include <cstdint>

#include "orchestrate/process.h"

namespace fwbench {

class TrialExecutor {
 public:
  virtual ~TrialExecutor() = default;
  // Runs one trial process to its end; `on_line` gets each stdout line as it arrives.
  virtual ProcessResult Run(const ProcessOptions& options, const LineHandler& on_line) = 0;
  // The running trial's pid on this machine, which the CPU watch reads /proc for; 0 when none
  // runs or it runs elsewhere.
  virtual std::int64_t RunningPid() const = 0;
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
