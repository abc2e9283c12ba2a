#include "pipeline/benchmark.h"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <set>
#include <tuple>

#include "backends/env/libtorch_info.h"
#include "core/doctor.h"
#include "core/env_fingerprint.h"
#include "core/error.h"
#include "orchestrate/builtin_workers.h"
#include "pipeline/libtorch_backend.h"
#include "pipeline/run_inputs.h"
#include "pipeline/user_model.h"
#include "report/results.h"

namespace fwbench::pipeline {

namespace {

bool AnyNeedsOnnx(const std::vector<Configuration>& configs) {
  return std::any_of(configs.begin(), configs.end(),
                     [](const Configuration& c) { return c.needs_onnx; });
}

// Each Python worker's own fp32 matmul peak on the threads its LLM configurations use, one probe
// process per library (a worker answers which of its modes share it), beside LibTorch's: the
// MFU denominator is the best GEMM of the run (report/model_flops). Measured here, not in the
// trials, so that no trial pays its memory or time.
nlohmann::json MeasureWorkerMatmulPeaks(const Benchmark& b, std::ostream& log) {
  nlohmann::json peaks = nlohmann::json::array();
  std::set<std::tuple<std::string, std::string, int>> covered;  // backend, mode, threads
  for (const Configuration& c : b.configs) {
    const auto w = std::find_if(b.workers.begin(), b.workers.end(),
                                [&](const BuiltinBackend& x) { return x.name == c.backend; });
    if (w == b.workers.end() || !w->python || w->command.size() < 3) continue;
    if (!covered.insert({c.backend, c.mode, c.threads}).second) continue;
    const std::filesystem::path log_file =
        std::filesystem::temp_directory_path() /
        fmt::format("fwbench-matmul-peak-{}-{}.log", ::getpid(), peaks.size());
    nlohmann::json peak = {{"backend", c.backend}, {"mode", c.mode}, {"threads", c.threads}};
    try {
      const nlohmann::json j =
          RunWorkerCommand({w->command[0], w->command[1], "--matmul-peak", w->command[2], c.mode,
                            std::to_string(c.threads)},
                           log_file, 300.0, fmt::format("{}/{}'s matmul peak", c.backend, c.mode));
      std::filesystem::remove(log_file);
      if (!j.value("ok", false)) continue;  // a port without the probe: LibTorch's peak serves
      peak.update(j);
      peak.erase("ok");
      for (const auto& m : j.value("modes", nlohmann::json::array())) {
        covered.insert({c.backend, m.get<std::string>(), c.threads});
      }
      log << fmt::format("matmul peak: {:.1f} GFLOP/s fp32 on {} threads ({}/{}: {})\n",
                         j.value("flops_per_s", 0.0) * 1e-9, c.threads, c.backend, c.mode,
                         j.value("library", "?"));
    } catch (const std::exception& e) {
      // MFU then divides by the best of the others; the run goes on.
      peak["error"] = e.what();
      log << fmt::format("warning: {}\n", e.what());
    }
    peaks.push_back(std::move(peak));
  }
  return peaks;
}

// `catalogue`: LibTorch's entry first, then the workers.
nlohmann::json CollectRunEnvironment(const Benchmark& b,
                                     const std::vector<BuiltinBackend>& catalogue,
                                     std::ostream& log) {
  const BuiltinBackend& libtorch = catalogue.front();
  nlohmann::json env = CollectEnvFingerprint();
  // Other programs' names stay on this machine (doctor prints them): results get shared.
  if (env["cpu_activity"].is_object()) env["cpu_activity"].erase("top");
  env[libtorch.name] = CollectLibtorchInfo();
  env["threads"] = b.max_threads;
  if (!b.workers.empty()) {
    env["workers"] = nlohmann::json::array();
    for (const BuiltinBackend& w : b.workers) env["workers"].push_back(ToJson(w));
  }
  env["ports"] = PortSizes(b.configs, catalogue, b.plan.workload);
  if (b.plan.workload == kWorkloadLlm) {
    // The denominator of model FLOPs utilisation, measured now for each thread count the
    // configurations use (keyed by it).
    env["matmul_peak"] = nlohmann::json::object();
    for (const Configuration& c : b.configs) {
      const std::string key = std::to_string(c.threads);
      if (env["matmul_peak"].contains(key)) continue;
      env["matmul_peak"][key] = MeasureMatmulPeak(c.threads);
      log << fmt::format("matmul peak: {:.1f} GFLOP/s fp32 on {} threads (LibTorch)\n",
                         env["matmul_peak"][key].value("flops_per_s", 0.0) * 1e-9, c.threads);
    }
    if (b.plan.device == "cpu") env["matmul_peaks"] = MeasureWorkerMatmulPeaks(b, log);
  }
  return env;
}

}  // namespace

Benchmark PrepareBenchmark(const Plan& plan, std::ostream& log, Prepared prepared) {
  Benchmark b;
  b.plan = plan;
  b.self_exe = std::filesystem::read_symlink("/proc/self/exe");
  // The inputs first: a bad data folder or weights file is reported at once, not after the
  // framework workers are probed (15-40 s with the PyPI stacks).
  if (prepared.inputs) {
    b.inputs = *prepared.inputs;
  } else if (plan.workload == kWorkloadLlm) {
    PrepareLlm(plan, b.inputs);
  } else if (plan.workload == kWorkloadUserModel) {
    UserModelFormat(plan);  // a missing file or unknown format, before any probe
  } else {
    b.inputs.data_dir = PrepareData(plan);
    b.inputs.weights = PrepareWeights(plan);
  }
  b.workers = prepared.workers ? *prepared.workers : DetectWorkers(plan, b.self_exe);
  if (plan.workload == kWorkloadUserModel && !prepared.inputs) {
    PrepareUserModel(plan, b.workers, b.inputs, log);
  }
  std::vector<BuiltinBackend> catalogue = {LibtorchBackend(b.self_exe, b.workers)};
  catalogue.insert(catalogue.end(), b.workers.begin(), b.workers.end());
  // What a backend's rules refuse is left out with a note (the plan crosses backends with
  // tasks, so e.g. libtorch/compiled × infer comes from naming both, not from asking for that
  // pair); a backend named explicitly that is left with nothing to run is refused.
  std::vector<std::string> left_out;
  b.configs = ExpandConfigurations(plan, b.self_exe, UsableCoreCount(), catalogue, &left_out);
  for (const std::string& note : left_out) log << fmt::format("leaving out {}\n", note);
  if (b.configs.empty()) throw UsageError("the plan leaves no configuration to run");

  if (plan.workload != kWorkloadUserModel && AnyNeedsOnnx(b.configs) &&
      b.inputs.onnx_model.empty()) {
    try {
      b.inputs.onnx_model = PrepareOnnx(plan, b.inputs.weights, b.workers);
    } catch (const std::exception& e) {
      // Only the ONNX backends need the export: the rest of the run goes on without them.
      log << fmt::format(
          "warning: the ONNX export failed, so the ONNX backends are left out of this run: {}\n",
          e.what());
      std::erase_if(b.configs, [](const Configuration& c) { return c.needs_onnx; });
      if (b.configs.empty()) throw UsageError("nothing left to run without the ONNX export");
    }
  }
  for (const Configuration& c : b.configs) b.max_threads = std::max(b.max_threads, c.threads);

  b.env = CollectRunEnvironment(b, catalogue, log);
  const BuiltinBackend& libtorch = catalogue.front();
  const bool uses_libtorch =
      std::any_of(b.configs.begin(), b.configs.end(),
                  [&](const Configuration& c) { return c.backend == libtorch.name; });
  if (plan.device == "cuda" && uses_libtorch &&
      !b.env[libtorch.name].value("cuda_available", false)) {
    throw UsageError(
        "--device cuda: this fwbench is built against a LibTorch without a usable CUDA device "
        "(Debian's libtorch is CPU-only); use --device cpu, or rebuild with "
        "-DTorch_DIR=<a CUDA LibTorch> (see README, GPU builds)");
  }
  const std::vector<Finding> findings = Diagnose(b.env, b.max_threads);
  if (!findings.empty()) log << FormatFindings(findings);
  return b;
}

BenchmarkRun RunBenchmark(const Benchmark& b, TrialExecutor& executor, RunSink sink) {
  BenchmarkRun out;
  // Absolute, so that spec and output paths handed to workers do not depend on their cwd.
  out.run_dir = CreateRunDir(std::filesystem::absolute(b.plan.out_dir), b.plan.name);
  sink.progress << fmt::format(
      "run {}: {} configurations × {} trials, up to {} threads each; results in {}\n",
      out.run_dir.filename().string(), b.configs.size(), b.plan.trials, b.max_threads,
      out.run_dir.string());
  try {
    out.totals = RunTrials(b.plan, b.configs, b.inputs, b.env, out.run_dir, executor, sink.progress,
                           sink.live_progress);
  } catch (const WriteError& e) {
    // A full disk, say: every trial that finished is in trials.jsonl and events.jsonl already
    // (appended and synced after each), so the run stops here.
    out.stopped_by = e.what();
    try {
      out.results = BuildResults(out.run_dir);
      out.results_path = WriteResults(out.run_dir, out.results);
    } catch (const std::exception&) {
      // The disk is still full; `fwbench report` builds them later.
    }
    return out;
  }
  out.results = BuildResults(out.run_dir);
  out.results_path = WriteResults(out.run_dir, out.results);
  return out;
}

}  // namespace fwbench::pipeline
