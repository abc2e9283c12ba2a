#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <set>

#include "backends/libtorch_info.h"
#include "backends/libtorch_llm_trial.h"
#include "backends/libtorch_trial.h"
#include "cli/commands.h"
#include "cli/plan_options.h"
#include "cli/run_inputs.h"
#include "core/doctor.h"
#include "core/env_fingerprint.h"
#include "core/error.h"
#include "orchestrate/process.h"
#include "orchestrate/run_plan.h"
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
  return [options, no_report]() {
    Plan plan = BuildPlan(*options);
    const bool llm = plan.workload == kWorkloadLlm;
    // The inputs first: a bad data folder or weights file is reported at once, not after the
    // framework workers are probed (15-40 s with the PyPI stacks).
    RunInputs inputs;
    if (llm) {
      PrepareLlm(plan, inputs);
    } else {
      inputs.data_dir = PrepareData(plan);
      inputs.weights = PrepareWeights(plan);
    }
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
    const std::vector<BuiltinBackend> builtins = DetectWorkers(plan, self);
    std::vector<Configuration> configs =
        ExpandConfigurations(plan, self, UsableCoreCount(), builtins);
    // What libtorch cannot run is left out with a note (the plan crosses backends with tasks,
    // so e.g. libtorch/compiled × infer comes from naming both, not from asking for that pair);
    // a backend named explicitly that is left with nothing to run is refused now, with the
    // reason, rather than as a failed trial in every repetition.
    std::map<std::string, std::string> refused;  // "backend/mode" → a reason
    std::set<std::string> kept;
    std::erase_if(configs, [&](const Configuration& c) {
      if (c.backend != "libtorch") return false;
      const std::string why =
          llm ? LibtorchLlmUnsupportedReason(c.mode, c.task, c.precision)
              : LibtorchUnsupportedReason(c.mode, c.task, c.precision, c.memory_format);
      const std::string name = c.backend + "/" + c.mode;
      if (why.empty()) {
        kept.insert(name);
        return false;
      }
      if (!c.from_auto) refused.emplace(name, fmt::format("configuration {}: {}", c.id, why));
      std::cerr << fmt::format("leaving out {}: {}\n", c.id, why);
      return true;
    });
    for (const auto& [name, why] : refused) {
      if (!kept.contains(name)) throw UsageError(why);
    }
    if (configs.empty()) throw UsageError("the plan leaves no configuration to run");
    int threads = 1;
    for (const Configuration& c : configs) threads = std::max(threads, c.threads);

    const bool needs_onnx = std::any_of(configs.begin(), configs.end(),
                                        [](const Configuration& c) { return c.needs_onnx; });
    if (needs_onnx) {
      try {
        inputs.onnx_model = PrepareOnnx(plan, inputs.weights, builtins);
      } catch (const std::exception& e) {
        // Only the ONNX backends need the export: the rest of the run goes on without them.
        std::cerr << fmt::format(
            "warning: the ONNX export failed, so the ONNX backends are left out of this run: "
            "{}\n",
            e.what());
        std::erase_if(configs, [](const Configuration& c) { return c.needs_onnx; });
        if (configs.empty()) throw UsageError("nothing left to run without the ONNX export");
      }
    }

    nlohmann::json env = CollectEnvFingerprint();
    // Other programs' names stay on this machine (doctor prints them): results get shared.
    if (env["cpu_activity"].is_object()) env["cpu_activity"].erase("top");
    env["libtorch"] = CollectLibtorchInfo();
    env["threads"] = threads;
    if (!builtins.empty()) {
      env["workers"] = nlohmann::json::array();
      for (const BuiltinBackend& b : builtins) env["workers"].push_back(ToJson(b));
    }
    env["ports"] = PortSizes(configs, builtins, plan.workload);
    if (llm) {
      // The denominator of model FLOPs utilisation, measured now for each thread count the
      // configurations use (keyed by it).
      env["matmul_peak"] = nlohmann::json::object();
      for (const Configuration& c : configs) {
        const std::string key = std::to_string(c.threads);
        if (env["matmul_peak"].contains(key)) continue;
        env["matmul_peak"][key] = MeasureMatmulPeak(c.threads);
        std::cerr << fmt::format("matmul peak: {:.1f} GFLOP/s fp32 on {} threads\n",
                                 env["matmul_peak"][key].value("flops_per_s", 0.0) * 1e-9,
                                 c.threads);
      }
    }
    const bool uses_libtorch =
        std::any_of(configs.begin(), configs.end(),
                    [](const Configuration& c) { return c.backend == "libtorch"; });
    if (plan.device == "cuda" && uses_libtorch && !env["libtorch"].value("cuda_available", false)) {
      throw UsageError(
          "--device cuda: this fwbench is built against a LibTorch without a usable CUDA device "
          "(Debian's libtorch is CPU-only); use --device cpu, or rebuild with "
          "-DTorch_DIR=<a CUDA LibTorch> (see README, GPU builds)");
    }
    const std::vector<Finding> findings = Diagnose(env, threads);
    if (!findings.empty()) std::cerr << FormatFindings(findings);

    // Absolute, so that spec and output paths handed to workers do not depend on their cwd.
    const std::filesystem::path run_dir =
        CreateRunDir(std::filesystem::absolute(plan.out_dir), plan.name);
    std::cerr << fmt::format(
        "run {}: {} configurations × {} trials, up to {} threads each; results in {}\n",
        run_dir.filename().string(), configs.size(), plan.trials, threads, run_dir.string());
    struct sigaction action {};
    action.sa_handler = OnInterrupt;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);

    RunTotals totals;
    try {
      totals =
          RunTrials(plan, configs, inputs, env, run_dir, std::cerr, isatty(STDERR_FILENO) == 1);
    } catch (const WriteError& e) {
      // A full disk, say: every trial that finished is in trials.jsonl and events.jsonl already
      // (appended and synced after each), so the run stops here and says how to get them back.
      std::cerr << fmt::format(
          "run stopped: {}\nThe trials that finished are kept in {}; once there is space, "
          "`fwbench report {}` builds their results and report.\n",
          e.what(), run_dir.string(), run_dir.string());
      try {
        WriteResults(run_dir, BuildResults(run_dir));
      } catch (const std::exception&) {
        // The disk is still full; the message above says how to build them later.
      }
      return kExitUsage;
    }
    const nlohmann::json results = BuildResults(run_dir);
    const std::filesystem::path path = WriteResults(run_dir, results);
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
              << FormatTable(results) << fmt::format("\nresults: {}\n", path.string())
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
