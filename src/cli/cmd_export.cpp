// `fwbench export --to onnx|torchscript|aoti`: the shared model in a deployable format, then the
// portability matrix — which runtimes on this machine load the file, run it, and compute the
// same function as LibTorch eager (the parity gate on a fixed batch).
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/plan_options.h"
#include "core/error.h"
#include "orchestrate/process.h"
#include "orchestrate/trial_executor.h"
#include "pipeline/benchmark.h"
#include "pipeline/run_inputs.h"
#include "report/results.h"

namespace fwbench::cli {

namespace {

struct ExportArgs {
  std::string to;
  std::string out;
  bool check = true;
  bool raw = false;
};

struct MatrixRow {
  std::string runtime;
  std::string loads;   // yes, no, -, n/a
  std::string result;  // parity figures or the reason
};

std::string Describe(const ConfigurationResult& config) {
  if (!config.parity) return "unchecked";
  const ParityResult& p = *config.parity;
  if (p.compared == "logits" && p.comparison.contains("max_abs")) {
    const nlohmann::json& l = p.comparison;
    return fmt::format("{}: max |Δ| {:.2g}, top-1 agreement {:.0f}%", p.status,
                       l["max_abs"].get<double>(), 100.0 * l.value("top1_agreement", 0.0));
  }
  return p.status + (p.problem.empty() ? "" : ": " + p.problem);
}

// Runs one inference trial per backend on the exported model and returns the results.
pipeline::BenchmarkRun RunMatrix(Plan plan, const std::vector<std::string>& backends,
                                 const std::vector<BuiltinBackend>& builtins,
                                 const RunInputs& inputs) {
  plan.name = "export-check";
  plan.backends = backends;
  plan.tasks = {"infer"};
  plan.infer_batch_sizes = {1};
  plan.trials = 1;
  plan.infer_budget = {.min_steps = 3, .max_steps = 3, .min_seconds = 0.0, .max_seconds = 120.0};
  plan.threads = {kDefaultThreads};
  plan.precisions = {"fp32"};
  plan.memory_formats = {"contiguous"};
  const pipeline::Benchmark benchmark =
      pipeline::PrepareBenchmark(plan, std::cerr, {.workers = builtins, .inputs = inputs});
  LocalExecutor executor;
  pipeline::BenchmarkRun run = pipeline::RunBenchmark(benchmark, executor, {.progress = std::cerr});
  if (!run.stopped_by.empty()) throw WriteError(run.stopped_by);
  return run;
}

std::string FailureReason(const RunResults& results, const std::string& config) {
  for (const TrialResult& t : results.trials) {
    if (t.metrics.config == config && !t.metrics.ok) return t.metrics.reason;
  }
  return "";
}

}  // namespace

namespace {

struct SavedModelRun {
  pipeline::BenchmarkRun check;  // the check run
  std::filesystem::path trial;   // the trial folder that saved the model
  std::string parity;            // Describe() of the saving configuration
};

// Runs libtorch eager next to libtorch/`mode`, whose first inference trial saves `saved_name`
// (the eager twin is the reference of the parity gate on a fixed batch), and copies that file to
// `file`. Throws naming what the trial said when it saved nothing.
SavedModelRun RunAndCopySavedModel(const Plan& plan, const std::vector<BuiltinBackend>& builtins,
                                   const std::filesystem::path& data_dir,
                                   const std::filesystem::path& weights,
                                   const std::filesystem::path& file, const std::string& mode,
                                   const std::string& saved_name, const std::string& what) {
  SavedModelRun out;
  out.check = RunMatrix(
      plan, {std::string(kLibtorchBackend), fmt::format("{}/{}", kLibtorchBackend, mode)}, builtins,
      {.data_dir = data_dir,
       .weights = weights,
       .onnx_model = {},
       .tokens = {},
       .adapter_init = {},
       .llm_facts = {},
       .user_model = {},
       .user_model_facts = {},
       .user_model_by_backend = {}});
  for (const auto& entry : std::filesystem::directory_iterator(out.check.run_dir / "trials")) {
    if (std::filesystem::exists(entry.path() / saved_name)) out.trial = entry.path();
  }
  if (out.trial.empty()) {
    throw std::runtime_error(
        fmt::format("the libtorch/{} trial saved no {}: {}", mode, what,
                    FailureReason(out.check.results, "libtorch/" + mode + "/infer/b1")));
  }
  std::filesystem::create_directories(std::filesystem::absolute(file).parent_path());
  std::filesystem::copy_file(out.trial / saved_name, file,
                             std::filesystem::copy_options::overwrite_existing);
  for (const ConfigurationResult& c : out.check.results.configurations) {
    if (c.mode == mode) out.parity = Describe(c);
  }
  return out;
}

}  // namespace

TorchScriptExport ExportTorchScript(const Plan& plan, const std::vector<BuiltinBackend>& builtins,
                                    const std::filesystem::path& data_dir,
                                    const std::filesystem::path& weights,
                                    const std::filesystem::path& file) {
  // The compiled configuration traces the C++ model and saves it.
  SavedModelRun run = RunAndCopySavedModel(plan, builtins, data_dir, weights, file, "compiled",
                                           "model.torchscript.pt", "TorchScript file");
  TorchScriptExport out;
  out.check = std::move(run.check);
  out.logits = run.trial / "logits.safetensors";
  out.file = file;
  out.parity = run.parity;
  return out;
}

Command AddExportCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "export",
      "Export the model (weights from --weights or the plan's seed) to ONNX (torch.onnx in the "
      "PyTorch worker), TorchScript (traced from the C++ model) or an AOTInductor package "
      "(torch.export + AOTInductor in the PyTorch worker, run by LibTorch), then check which "
      "runtimes here load it and compute the same function as LibTorch eager: the portability "
      "matrix.");
  auto args = std::make_shared<ExportArgs>();
  auto options = std::make_shared<PlanOptions>();
  cmd->add_option("--to", args->to, "onnx, torchscript or aoti")
      ->required()
      ->check(CLI::IsMember({"onnx", "torchscript", "aoti"}));
  cmd->add_option("--file", args->out,
                  "Where to write the model (default: <out>/model-<arch>-<stem>.<onnx|pt|pt2>)");
  cmd->add_flag("!--no-check", args->check,
                "ONNX: export only, skip the portability matrix (TorchScript and AOTInductor "
                "files are made by their checked trial)");
  cmd->add_flag("--raw", args->raw,
                "ONNX: keep torch.onnx's graph exactly as written (by default, Identity nodes on "
                "deduplicated initializers are inlined: OpenCV 4.6 cannot import them)");
  AddPlanOptions(*cmd, *options);
  return [args, options]() {
    Plan plan = BuildPlan(*options);
    if (plan.workload != kWorkloadImage) {
      throw UsageError(
          fmt::format("fwbench export exports the image_classification workload; "
                      "workload '{}' has no export yet",
                      plan.workload));
    }
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
    const std::vector<BuiltinBackend> builtins =
        ProbeBuiltinWorkers(WorkersDir(self), plan.worker_pythons);
    const std::filesystem::path data_dir = pipeline::PrepareData(plan);
    const std::filesystem::path weights = pipeline::PrepareWeights(plan);
    const std::string ext = args->to == "onnx" ? "onnx" : args->to == "aoti" ? "pt2" : "pt";
    const std::filesystem::path file =
        args->out.empty() ? std::filesystem::absolute(plan.out_dir) /
                                fmt::format("model-{}-{}.{}", plan.arch, plan.stem, ext)
                          : std::filesystem::absolute(args->out);
    std::vector<MatrixRow> rows;
    if (args->to == "onnx") {
      const std::filesystem::path onnx = pipeline::PrepareOnnx(plan, weights, builtins, args->raw);
      std::filesystem::copy_file(onnx, file, std::filesystem::copy_options::overwrite_existing);
      std::cout << fmt::format("exported {}\n", file.string());
      if (!args->check) return kExitOk;
      std::vector<std::string> backends = {std::string(kLibtorchBackend)};
      for (const BuiltinBackend& b : builtins) {
        if (!b.needs_onnx) continue;
        if (b.Available()) {
          backends.push_back(b.name + "/" + b.modes.front());
        } else {
          rows.push_back({b.name, "-", "not available here: " + b.unavailable});
        }
      }
      const pipeline::BenchmarkRun check = RunMatrix(plan, backends, builtins,
                                                     {.data_dir = data_dir,
                                                      .weights = weights,
                                                      .onnx_model = file,
                                                      .tokens = {},
                                                      .adapter_init = {},
                                                      .llm_facts = {},
                                                      .user_model = {},
                                                      .user_model_facts = {},
                                                      .user_model_by_backend = {}});
      for (const ConfigurationResult& c : check.results.configurations) {
        if (c.backend == kLibtorchBackend) continue;
        const std::string reason = FailureReason(check.results, c.id());
        rows.insert(rows.begin(), {c.backend, reason.empty() ? "yes" : "no",
                                   reason.empty() ? Describe(c) : reason});
      }
      rows.push_back({"tfjs", "n/a",
                      "TensorFlow.js does not read ONNX (it loads TF SavedModel / Keras models "
                      "converted with tensorflowjs_converter)"});
      std::cout << fmt::format("check run: {}\n", check.run_dir.string());
    } else if (args->to == "aoti") {
      // libtorch/aoti makes the package in its compile phase and keeps it.
      const SavedModelRun run = RunAndCopySavedModel(plan, builtins, data_dir, weights, file,
                                                     "aoti", "model.pt2", "AOTInductor package");
      std::cout << fmt::format("exported {}\n", file.string());
      rows.push_back({"libtorch (C++)", "yes", run.parity});
      std::cout << fmt::format("check run: {}\n", run.check.run_dir.string());
    } else {
      const TorchScriptExport exported = ExportTorchScript(plan, builtins, data_dir, weights, file);
      const std::filesystem::path& run_dir = exported.check.run_dir;
      const std::filesystem::path& logits = exported.logits;
      std::cout << fmt::format("exported {}\n", file.string());
      for (const ConfigurationResult& c : exported.check.results.configurations) {
        if (c.mode == "compiled") rows.push_back({"libtorch (C++)", "yes", Describe(c)});
      }
      const auto pytorch =
          std::find_if(builtins.begin(), builtins.end(),
                       [](const BuiltinBackend& b) { return b.name == "pytorch"; });
      if (pytorch == builtins.end() || !pytorch->Available()) {
        rows.push_back({"pytorch (Python)", "-",
                        "not available here: " +
                            (pytorch == builtins.end() ? std::string("?") : pytorch->unavailable)});
      } else {
        std::string last;
        ProcessOptions p;
        p.argv = {pytorch->command[0],
                  (WorkersDir(self) / "python" / "check_torchscript.py").string(), file.string(),
                  logits.string()};
        p.stderr_path = run_dir / "check_torchscript.log";
        p.timeout_s = 300;
        const ProcessResult r = RunProcess(p, [&](std::string_view line) {
          if (!line.empty()) last = std::string(line);
          return true;
        });
        // check_torchscript.py: 0 same results, 1 different results, 2 does not load or run.
        rows.push_back(
            {"pytorch (Python)", r.exit_code == 0 || r.exit_code == 1 ? "yes" : "no",
             fmt::format("{}{}",
                         r.exit_code == 0   ? "pass: "
                         : r.exit_code == 1 ? "FAIL: "
                                            : "",
                         last.empty() ? fmt::format("exit code {}", r.exit_code) : last)});
      }
    }
    std::cout << fmt::format("\nportability of {} ({} {}, {})\n", file.filename().string(),
                             plan.arch, plan.stem, args->to);
    std::size_t width = 8;
    for (const auto& r : rows) width = std::max(width, r.runtime.size());
    std::cout << fmt::format("{:<{}}  loads  same function as LibTorch eager?\n", "runtime", width);
    for (const auto& r : rows) {
      std::cout << fmt::format("{:<{}}  {:<5}  {}\n", r.runtime, width, r.loads, r.result);
    }
    return kExitOk;
  };
}

}  // namespace fwbench::cli
