#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/plan_options.h"
#include "cli/slurm_flags.h"
#include "core/error.h"
#include "orchestrate/process.h"
#include "orchestrate/slurm_executor.h"
#include "orchestrate/trial_executor.h"
#include "pipeline/benchmark.h"
#include "report/csv_export.h"
#include "report/results.h"
#include "report/run_history.h"
#include "report/table.h"

namespace fwbench::cli {

namespace {

void OnInterrupt(int) {
  KillRunningProcess();
  RequestStop();
}

}  // namespace

Command AddRunCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "run",
      "Run a benchmark plan: every trial in a fresh process, round-robin across configurations; "
      "results go to <out>/<run-id>/ as they arrive, and the report (report.html, report.md) "
      "at the end. Without a plan file, runs the embedded "
      "default (ResNet-18 on synthetic CIFAR-10, inference at batch 1, every backend that "
      "runs here: LibTorch eager and compiled plus the framework workers `fwbench doctor` lists; "
      "--tasks train,infer adds training).");
  auto options = std::make_shared<PlanOptions>();
  AddPlanOptions(*cmd, *options);
  auto no_report = std::make_shared<bool>(false);
  cmd->add_flag("--no-report", *no_report,
                "Skip report.md/report.html at the end (`fwbench report RUN` writes them later)");
  auto slurm = std::make_shared<SlurmFlags>();
  AddSlurmFlags(*cmd, *slurm);
  return [options, no_report, slurm]() {
    const Plan plan = BuildPlan(*options);
    // Slurm is checked first: a cluster that is not there is said before any preparation.
    std::unique_ptr<TrialExecutor> executor;
    SlurmExecutor* on_slurm = nullptr;
    if (slurm->executor == "slurm") {
      auto e = std::make_unique<SlurmExecutor>(MakeSlurmOptions(*slurm));
      on_slurm = e.get();
      executor = std::move(e);
    } else {
      executor = std::make_unique<LocalExecutor>();
    }
    const pipeline::Benchmark benchmark = pipeline::PrepareBenchmark(plan, std::cerr);
    if (on_slurm != nullptr) {
      std::cerr << "checking that every node of the partition can run the plan's backends …\n";
      on_slurm->CheckNodes(NodeNeedsOf(benchmark), std::filesystem::absolute(plan.out_dir));
    }
    struct sigaction action {};
    action.sa_handler = OnInterrupt;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);

    const pipeline::BenchmarkRun run = pipeline::RunBenchmark(
        benchmark, *executor, {.progress = std::cerr, .live_progress = isatty(STDERR_FILENO) == 1});
    const std::filesystem::path& run_dir = run.run_dir;
    if (!run.stopped_by.empty()) {
      std::cerr << fmt::format(
          "run stopped: {}\nThe trials that finished are kept in {}; once there is space, "
          "`fwbench report {}` builds their results and report.\n",
          run.stopped_by, run_dir.string(), run_dir.string());
      return kExitUsage;
    }
    const RunResults& results = run.results;
    const RunTotals& totals = run.totals;
    WriteCsv(run_dir, results);
    IndexRunOrWarn(run_dir, results);
    std::string report_paths;
    if (!*no_report) {
      try {
        const report::ReportFiles files = WriteReportAndSay(run_dir, results, std::cerr);
        report_paths =
            fmt::format("report:  {}\n         {}\n", files.html.string(), files.markdown.string());
      } catch (const std::exception& e) {
        // The measurements are on disk already; `fwbench report` can try again.
        std::cerr << fmt::format(
            "warning: the report was not written: {}; retry with `fwbench "
            "report {}`\n",
            e.what(), run_dir.string());
      }
    }
    std::cout << "\n"
              << FormatTable(results) << fmt::format("\nresults: {}\n", run.results_path.string())
              << report_paths;
    std::cout.flush();
    if (totals.trials_interrupted > 0) {
      std::cerr << fmt::format(
          "the run was stopped: {} trial(s) interrupted and left out; {} finished\n",
          totals.trials_interrupted, totals.trials_ok + totals.trials_failed);
      return kExitFailure;
    }
    if (totals.trials_failed > 0) {
      std::cerr << fmt::format(
          "{} of {} trials failed; their reasons are in the table above and in {}\n",
          totals.trials_failed, totals.trials_failed + totals.trials_ok,
          (run_dir / "trials.jsonl").string());
      return kExitFailure;
    }
    return kExitOk;
  };
}

}  // namespace fwbench::cli
