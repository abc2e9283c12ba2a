#pragma once
// `fwbench worker-check`: runs a worker through short trials and checks everything
// docs/protocol.md asks of it, rule by rule, so a worker author learns exactly what is wrong.
#include <filesystem>
#include <string>
#include <vector>

#include "core/trial_spec.h"

namespace fwbench {

struct WorkerCheckOptions {
  std::vector<std::string> command;  // "{spec}" stands for the spec path
  TrialSpec base;                    // backend, mode, model, data, weights, onnx_model filled in
  std::vector<std::string> tasks = {"infer", "train"};
  std::filesystem::path work_dir;  // spec files, stderr logs and outputs go here
  double timeout_s = 600.0;
};

struct CheckOutcome {
  std::string run;   // "infer", "train", "bad spec"
  std::string rule;  // what the protocol asks
  bool ok = false;
  bool skipped = false;  // the worker declared the configuration unsupported
  std::string detail;    // the violation, or what was seen
};

std::vector<CheckOutcome> CheckWorker(const WorkerCheckOptions& options);

// A table of the outcomes; the last line says how many rules failed.
std::string FormatCheck(const std::vector<CheckOutcome>& outcomes);

}  // namespace fwbench
