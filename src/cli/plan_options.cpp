#include "cli/plan_options.h"

#include <fmt/format.h>

#include <sstream>

#include "core/error.h"

namespace fwbench::cli {

void AddPlanOptions(CLI::App& cmd, PlanOptions& options) {
  cmd.add_option("plan", options.plan_file, "Plan file (TOML); see examples/default.toml")
      ->check(CLI::ExistingFile);
  cmd.add_flag("--quick", options.quick, "Shrink the plan to test size (seconds, not minutes)");
  cmd.add_flag("--pipeline-only", options.pipeline_only,
               "Measure the input pipelines only: tasks = input_pipeline (docs/data-pipelines.md)");
  const Plan defaults;
  for (const PlanField& field : PlanFields()) {
    CLI::Option* opt =
        cmd.add_option(field.flag, options.values[field.flag],
                       fmt::format("{} [{}: {}]", field.help, field.key, field.type));
    opt->default_str(field.to_text(defaults));
    opt->type_name(field.type == "integer"   ? "INT"
                   : field.type == "number"  ? "NUM"
                   : field.type == "boolean" ? "BOOL"
                   : field.type == "string"  ? "TEXT"
                                             : "A,B,…");
    options.options[field.flag] = opt;
  }
  cmd.add_option("--worker", options.workers,
                 "Add a backend served by a worker program: NAME=PROGRAM ARG… ({spec} is replaced "
                 "by the trial spec path); same as a [workers.NAME] table");
}

Plan BuildPlan(const PlanOptions& options) {
  Plan plan;
  if (!options.plan_file.empty()) ApplyPlanFile(plan, options.plan_file);
  if (options.quick) ApplyQuick(plan);
  for (const PlanField& field : PlanFields()) {
    const auto it = options.options.find(field.flag);
    if (it != options.options.end() && it->second->count() > 0) {
      field.set_from_text(plan, options.values.at(field.flag), field.flag);
    }
  }
  for (const std::string& w : options.workers) {
    const auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw UsageError(fmt::format("--worker '{}': expected NAME=PROGRAM ARG… {{spec}}", w));
    }
    WorkerCommand worker;
    std::istringstream words(w.substr(eq + 1));
    for (std::string word; words >> word;) worker.command.push_back(word);
    if (worker.command.empty()) throw UsageError(fmt::format("--worker '{}': no program given", w));
    plan.workers[w.substr(0, eq)] = std::move(worker);
  }
  ResolveWorkload(plan);
  // --quick adds training, which a model file does not run; a --tasks of the user's stands.
  const auto tasks = options.options.find("--tasks");
  const bool tasks_given = tasks != options.options.end() && tasks->second->count() > 0;
  if (options.quick && plan.workload == "user_model" && !tasks_given) plan.tasks = {"infer"};
  if (options.pipeline_only) {
    if (tasks_given) {
      throw UsageError("--pipeline-only and --tasks both name the tasks: give one of them");
    }
    plan.tasks = {kTaskInputPipeline};
  }
  ValidatePlan(plan);
  return plan;
}

}  // namespace fwbench::cli
