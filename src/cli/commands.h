#pragma once
// The fwbench subcommands. Each registers its options on the CLI11 app and returns the
// callback that runs it; exceptions are turned into messages and exit codes in main.cpp.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <ostream>

#include <nlohmann/json.hpp>

#include "analysis/run_results.h"
#include "orchestrate/builtin_workers.h"
#include "orchestrate/plan.h"
#include "pipeline/benchmark.h"
#include "report/report_writer.h"

namespace fwbench::cli {

using Command = std::function<int()>;

// Adds the run to the history database beside its folder; a failure is a warning on stderr
// (the run's own files are what matter).
void IndexRunOrWarn(const std::filesystem::path& run_dir, const RunResults& results);

// Writes report.md and report.html into the run folder; charts that could not be rendered are
// named on `log` (the report says so too).
report::ReportFiles WriteReportAndSay(const std::filesystem::path& run_dir,
                                      const RunResults& results, std::ostream& log);

struct TorchScriptExport {
  std::filesystem::path file;
  std::filesystem::path logits;  // the reference logits of the parity batch
  std::string parity;            // the traced model vs LibTorch eager, in words
  pipeline::BenchmarkRun check;  // the check run
};
// Traces the C++ model (plan's architecture and weights) to TorchScript at `file`, through a
// libtorch/compiled trial whose parity against eager is checked on the way.
TorchScriptExport ExportTorchScript(const Plan& plan, const std::vector<BuiltinBackend>& builtins,
                                    const std::filesystem::path& data_dir,
                                    const std::filesystem::path& weights,
                                    const std::filesystem::path& file);

// The bearer token in the environment variable `--token-env` names (tokens stay out of argv,
// where `ps` shows them); empty when `variable` is empty. UsageError when it is unset or empty.
std::string BearerTokenFromEnv(const std::string& variable);

Command AddRunCommand(CLI::App& app);
Command AddTrialCommand(CLI::App& app, std::int64_t t_main_ns);
Command AddReportCommand(CLI::App& app);
Command AddDoctorCommand(CLI::App& app);
Command AddPlanCommand(CLI::App& app);
Command AddWorkerCheckCommand(CLI::App& app);
Command AddExportCommand(CLI::App& app);
Command AddCompareCommand(CLI::App& app);
Command AddHistoryCommand(CLI::App& app);
Command AddLoraMergeCommand(CLI::App& app);
Command AddLlmExportCommand(CLI::App& app);
Command AddLlmExportRunCommand(CLI::App& app);
Command AddServeCommand(CLI::App& app);
Command AddLoadCommand(CLI::App& app);
Command AddDxCommand(CLI::App& app);
Command AddDxCaseCommand(CLI::App& app);
Command AddDdpLaunchCommand(CLI::App& app);
Command AddDeployCommand(CLI::App& app);
Command AddSlurmTaskCommand(CLI::App& app);
Command AddSlurmNodeCheckCommand(CLI::App& app);

}  // namespace fwbench::cli
