#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <thread>

#include "backends/libtorch_info.h"
#include "backends/libtorch_trial.h"
#include "cli/commands.h"
#include "cli/plan_options.h"
#include "core/doctor.h"
#include "core/env_fingerprint.h"
#include "core/error.h"
#include "data/cifar10.h"
#include "data/synthetic.h"
#include "orchestrate/process.h"
#include "orchestrate/run_plan.h"
#include "report/results.h"
#include "report/table.h"

namespace fwbench::cli {

namespace {

int UsableCores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

void OnInterrupt(int) {
  KillRunningProcess();
  RequestStop();
}

// The data every trial reads: the user's CIFAR-10 folder (validated up front, so a truncated
// file is a usage error before any trial runs) or the embedded synthetic set, generated once.
std::filesystem::path PrepareData(const Plan& plan) {
  if (!plan.data_dir.empty()) {
    std::cerr << fmt::format("checking data in {} …\n", plan.data_dir.string());
    data::ReadCifar10Dir(plan.data_dir, data::Split::kTrain);
    data::ReadCifar10Dir(plan.data_dir, data::Split::kTest);
    return std::filesystem::absolute(plan.data_dir);
  }
  const data::SyntheticOptions options{
      .seed = plan.seed,
      .train_per_file = static_cast<std::size_t>(plan.synthetic_train_per_file),
      .test_records = static_cast<std::size_t>(plan.synthetic_test)};
  const std::filesystem::path dir =
      std::filesystem::absolute(plan.out_dir / "cache" /
                                fmt::format("synthetic-cifar10-s{}-{}x5-{}", plan.seed,
                                            plan.synthetic_train_per_file, plan.synthetic_test));
  if (data::EnsureSyntheticCifar10(dir, options)) {
    std::cerr << fmt::format("generated synthetic CIFAR-10 data in {}\n", dir.string());
  }
  return dir;
}

std::filesystem::path PrepareWeights(const Plan& plan) {
  if (!plan.weights.empty()) {
    // The user's checkpoint: refuse it now, with its problems named, rather than in every trial.
    CheckWeights(plan.arch, plan.stem, plan.num_classes, plan.weights);
    return std::filesystem::absolute(plan.weights);
  }
  const std::filesystem::path path =
      std::filesystem::absolute(plan.out_dir / "cache" /
                                fmt::format("weights-{}-{}-c{}-s{}.safetensors", plan.arch,
                                            plan.stem, plan.num_classes, plan.seed));
  if (std::filesystem::exists(path)) {
    try {
      CheckWeights(plan.arch, plan.stem, plan.num_classes, path);
      return path;
    } catch (const UsageError& e) {
      std::cerr << fmt::format("cached weights are unusable, generating them again: {}\n",
                               e.what());
    }
  }
  GenerateInitialWeights(plan.arch, plan.stem, plan.num_classes, plan.seed, path);
  std::cerr << fmt::format("generated initial weights {}\n", path.string());
  return path;
}

}  // namespace

Command AddRunCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "run",
      "Run a benchmark plan: every trial in a fresh process, round-robin across configurations; "
      "results go to <out>/<run-id>/ as they arrive. Without a plan file, runs the embedded "
      "default (ResNet-18 on synthetic CIFAR-10, LibTorch eager, training and inference).");
  auto options = std::make_shared<PlanOptions>();
  AddPlanOptions(*cmd, *options);
  return [options]() {
    Plan plan = BuildPlan(*options);
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
    const std::vector<Configuration> configs = ExpandConfigurations(plan, self, UsableCores());
    int threads = 1;
    for (const Configuration& c : configs) {
      threads = std::max(threads, c.threads);
      if (c.backend != "libtorch") continue;
      // Refused now, with what is supported, rather than as a failed trial in every repetition.
      if (const std::string why =
              LibtorchUnsupportedReason(c.mode, c.task, c.precision, c.memory_format);
          !why.empty()) {
        throw UsageError(fmt::format("configuration {}: {}", c.id, why));
      }
    }

    const std::filesystem::path data_dir = PrepareData(plan);
    const std::filesystem::path weights = PrepareWeights(plan);

    nlohmann::json env = CollectEnvFingerprint();
    env["libtorch"] = CollectLibtorchInfo();
    env["threads"] = threads;
    const bool uses_libtorch =
        std::find(plan.backends.begin(), plan.backends.end(), "libtorch") != plan.backends.end();
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

    const RunTotals totals = RunTrials(plan, configs, {data_dir, weights}, env, run_dir, std::cerr);
    const nlohmann::json results = BuildResults(run_dir);
    const std::filesystem::path path = WriteResults(run_dir, results);
    std::cout << "\n" << FormatTable(results) << fmt::format("\nresults: {}\n", path.string());
    std::cout.flush();
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
