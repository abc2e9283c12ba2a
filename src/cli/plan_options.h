#pragma once
// Command-line flags for every plan field (from PlanFields(), so flags and TOML keys match),
// plus the plan file and --quick. Precedence: defaults → plan file → --quick → flags.
#include <CLI/CLI.hpp>

#include <map>
#include <string>
#include <vector>

#include "orchestrate/plan.h"

namespace fwbench::cli {

struct PlanOptions {
  std::string plan_file;
  bool quick = false;
  bool pipeline_only = false;                 // tasks = ["input_pipeline"]
  std::map<std::string, std::string> values;  // flag → text, for flags that were given
  std::vector<std::string> workers;           // "NAME=PROGRAM ARG… {spec}"
  std::map<std::string, CLI::Option*> options;
};

void AddPlanOptions(CLI::App& cmd, PlanOptions& options);
Plan BuildPlan(const PlanOptions& options);

}  // namespace fwbench::cli
