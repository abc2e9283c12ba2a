// `fwbench deploy`: the path from the benchmark's model, or the user's own, to a served endpoint,
// measured for fwbench serve (dynamic batching on and off) and for the FastAPI + uvicorn baseline
// on the model's own framework: the steps a user performs, time to ready, time to the first
// prediction, throughput under load and the highest rate whose p99 stays under a bound, memory,
// and a clean stop.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/deploy_target.h"
#include "cli/deploy_torchserve.h"
#include "cli/plan_options.h"
#include "core/env_fingerprint.h"
#include "core/error.h"
#include "deploy/endpoint_measure.h"
#include "deploy/server_process.h"
#include "orchestrate/process.h"
#include "orchestrate/run_plan.h"
#include "pipeline/run_inputs.h"
#include "report/results.h"
#include "serve/model_config.h"

namespace fwbench::cli {

std::filesystem::path ToolsFile(const std::filesystem::path& self,
                                const std::filesystem::path& relative) {
  auto beside = self.parent_path().parent_path() / "tools" / relative;
  if (std::filesystem::is_regular_file(beside)) return beside;
  return std::filesystem::path(FWBENCH_SOURCE_DIR) / "tools" / relative;
}

std::pair<std::string, std::string> FindFastapiPython(const std::vector<std::string>& candidates,
                                                      const std::string& framework,
                                                      const std::filesystem::path& log_dir,
                                                      const std::string& install_hint) {
  std::string why = "no python3 found";
  for (const std::string& python : candidates) {
    ProcessOptions p;
    p.argv = {python, "-c", fmt::format("import fastapi, uvicorn, {}", framework)};
    p.stderr_path = log_dir / "fastapi-probe.log";
    p.timeout_s = 60;
    const ProcessResult r = RunProcess(p, [](std::string_view) { return true; });
    if (r.exit_code == 0) return {python, ""};
    std::ifstream in(p.stderr_path);
    std::string all((std::istreambuf_iterator<char>(in)), {});
    const auto last = all.find_last_of('\n', all.size() >= 2 ? all.size() - 2 : 0);
    why = fmt::format("{} cannot import fastapi, uvicorn and {} ({}); {}", python, framework,
                      all.substr(last == std::string::npos ? 0 : last + 1, 200), install_hint);
  }
  return {"", why};
}

std::int64_t CountLines(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string line;
  std::int64_t n = 0;
  while (std::getline(in, line)) {
    const auto first = line.find_first_not_of(" \t");
    if (first != std::string::npos && line[first] != '#') ++n;
  }
  return n;
}

namespace {

// The worst excess of |a - b| over atol + rtol × |a| across the first outputs (≤ 0: they agree),
// and the largest |a - b|; infinite when the outputs differ in size.
std::pair<double, double> FirstOutputGap(const nlohmann::json& a, const nlohmann::json& b,
                                         double atol, double rtol) {
  const auto& x = a.at("outputs").at(0).at("data");
  const auto& y = b.at("outputs").at(0).at("data");
  if (x.size() != y.size()) return {INFINITY, INFINITY};
  double excess = -INFINITY, worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double ref = x[i].get<double>(), diff = std::abs(ref - y[i].get<double>());
    worst = std::max(worst, diff);
    excess = std::max(excess, diff - (atol + rtol * std::abs(ref)));
  }
  return {excess, worst};
}

void PrintTable(const nlohmann::json& servers, double p99_ms, std::ostream& out) {
  out << fmt::format("\n{:<28} {:>6} {:>9} {:>11} {:>12} {:>10} {:>13} {:>9}\n", "server", "steps",
                     "ready s", "1st pred s", "closed req/s", "p99 ms", "max rate/s", "peak MB");
  for (const auto& s : servers) {
    if (s.contains("skipped") || s.contains("failed")) {
      const bool skipped = s.contains("skipped");
      out << fmt::format("{:<28} {}: {}\n", s["name"].get<std::string>(),
                         skipped ? "skipped" : "FAILED",
                         s[skipped ? "skipped" : "failed"].get<std::string>());
      continue;
    }
    out << fmt::format(
        "{:<28} {:>6} {:>9.2f} {:>11.2f} {:>12.2f} {:>10.1f} {:>13.2f} {:>9.0f}\n",
        s["name"].get<std::string>(), s["step_count"].get<int>(),
        s["time_to_ready_s"].get<double>(), s["time_to_first_prediction_s"].get<double>(),
        s["closed_loop"]["achieved_per_s"].get<double>(), s["closed_loop"]["p99_ms"].get<double>(),
        s["max_rate_per_s"].get<double>(), s["peak_rss_bytes"].get<double>() / 1048576.0);
  }
  out << fmt::format(
      "(closed loop: p99 of that run; max rate: highest open-loop rate with p99 ≤ "
      "{:.0f} ms, no errors, ≥ 95% achieved)\n",
      p99_ms);
}

// The benchmark's ResNet exported to TorchScript (what `fwbench export --to torchscript` does),
// timed, in a repository fwbench serve reads; the baseline loads the same file with PyTorch.
DeployTarget PrepareBuiltinDeploy(const Plan& plan, const DeployArgs& a,
                                  const std::filesystem::path& self,
                                  const std::filesystem::path& run_dir) {
  const std::int64_t size = a.image_size > 0 ? a.image_size : (plan.stem == "imagenet" ? 224 : 32);
  std::cerr << fmt::format("deploy: {} {} at {}×{}, run folder {}\n", plan.arch, plan.stem, size,
                           size, run_dir.string());
  const auto t_export = std::chrono::steady_clock::now();
  const std::vector<BuiltinBackend> builtins =
      ProbeBuiltinWorkers(WorkersDir(self), plan.worker_pythons);
  DeployTarget t;
  t.model_name = plan.arch;
  t.repository = run_dir / "repository";
  const auto model_file = t.repository / t.model_name / "1" / "model.pt";
  const std::filesystem::path data_dir = pipeline::PrepareData(plan);  // creates the cache folder
  const std::filesystem::path weights = pipeline::PrepareWeights(plan);
  const TorchScriptExport exported =
      ExportTorchScript(plan, builtins, data_dir, weights, model_file);
  const double export_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_export).count();
  serve::ModelConfig config;
  config.signature.name = t.model_name;
  config.signature.inputs = {{"input", "FP32", {-1, 3, size, size}}};
  config.signature.outputs = {{"logits", "FP32", {-1, plan.num_classes}}};
  config.batching.max_batch_size = static_cast<std::size_t>(a.max_batch_size);
  config.batching.max_queue_delay_ns = std::int64_t{a.max_queue_delay_us} * 1000;
  config.batching.max_queue = 256;
  config.batching.request_timeout_ns = 60'000'000'000;
  const auto config_file = t.repository / t.model_name / "config.toml";
  std::ofstream(config_file) << serve::ModelConfigToml(config);
  std::cerr << fmt::format("deploy: exported {} in {:.1f} s ({}); repository {}\n",
                           model_file.string(), export_s, exported.parity, t.repository.string());
  t.request_inputs = {{"input", "FP32", {1, 3, size, size}}};
  const std::string export_step = fmt::format(
      "export the model to TorchScript (fwbench export --to torchscript: {:.1f} s)", export_s);
  t.serve_steps = {export_step,
                   fmt::format("write {}/config.toml ({} lines: inputs, outputs, batching)",
                               t.model_name, CountLines(config_file))};
  std::tie(t.baseline_python, t.baseline_refusal) =
      FindFastapiPython(PythonCandidates(), "torch", run_dir,
                        "Debian: apt-get install python3-fastapi python3-uvicorn python3-torch");
  t.baseline_env = {{"MODEL_PATH", model_file.string()}, {"MODEL_NAME", t.model_name}};
  t.baseline_steps = {export_step};
  t.facts = {{"model", t.model_name}, {"arch", plan.arch},    {"stem", plan.stem},
             {"image_size", size},    {"export_s", export_s}, {"export_parity", exported.parity}};
  return t;
}

}  // namespace

Command AddDeployCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "deploy",
      "Measure the path from the model to a served endpoint: the benchmark's ResNet exported to "
      "TorchScript, or your own model (--model-file, --model-py: docs/your-model.md), in a model "
      "repository; then for fwbench serve (dynamic batching on and off), the FastAPI + "
      "uvicorn baseline on the model's own framework and TorchServe (--baseline): start, ready, "
      "first prediction (checked "
      "against each other), a closed-loop load test and the highest rate with p99 under "
      "--p99-ms, peak memory, clean stop. Writes deploy.json (and, with --into RUN, the "
      "deployment row of that run's verdict matrix).");
  auto a = std::make_shared<DeployArgs>();
  auto options = std::make_shared<PlanOptions>();
  cmd->add_option("--image-size", a->image_size,
                  "Input height and width of the served model (default 224 for the imagenet "
                  "stem, 32 for cifar)")
      ->check(CLI::Range(8, 1024));
  cmd->add_option("--baseline", a->baselines,
                  "Servers beside fwbench serve, comma-separated: fastapi (FastAPI + uvicorn on "
                  "the model's framework), torchserve (TorchServe 0.12 with fwbench's tensor "
                  "handler, TorchScript models), tfserving (a row saying why it cannot run "
                  "here), or none")
      ->delimiter(',')
      ->check(CLI::IsMember({"fastapi", "torchserve", "tfserving", "none"}))
      ->capture_default_str();
  cmd->add_option("--batching", a->batching, "fwbench serve with dynamic batching: on, off or both")
      ->check(CLI::IsMember({"on", "off", "both"}))
      ->capture_default_str();
  cmd->add_option("--max-batch-size", a->max_batch_size, "Dynamic batching's max batch size")
      ->check(CLI::Range(2, 1024))
      ->capture_default_str();
  cmd->add_option("--max-queue-delay-us", a->max_queue_delay_us, "Dynamic batching's max delay")
      ->check(CLI::Range(0, 10'000'000))
      ->capture_default_str();
  cmd->add_option("--p99-ms", a->p99_ms, "p99 bound of the rate search")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--duration", a->duration_s, "Seconds of each load test (measured)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--warmup", a->warmup_s, "Seconds of load before each measurement")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--connections", a->connections, "Concurrency of the closed-loop test")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->add_option("--start-rate", a->start_rate, "First rate of the search (requests/s)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--bisection-steps", a->bisection_steps, "Refinements after the doubling")
      ->check(CLI::Range(0, 20))
      ->capture_default_str();
  cmd->add_option("--serve-threads", a->serve_threads,
                  "Compute threads of every server (fwbench serve --threads; the baseline's "
                  "framework threads); 0: every core this process may use")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  cmd->add_option("--into", a->into,
                  "A run folder: add the deployment figures to its results.json and report");
  AddPlanOptions(*cmd, *options);
  return [a, options]() {
    Plan plan = BuildPlan(*options);
    const bool user_model = plan.workload == kWorkloadUserModel;
    if (!user_model && plan.workload != kWorkloadImage) {
      throw UsageError(
          "fwbench deploy serves the image_classification workload's model or your own "
          "(--model-file, --model-py)");
    }
    if (user_model && a->image_size > 0) {
      throw UsageError(
          "--image-size sets the input of fwbench's ResNet; your model's inputs come from the "
          "model and --input (e.g. --input x:FP32:Nx3x224x224)");
    }
    if (!a->into.empty() && !std::filesystem::is_regular_file(a->into / "results.json")) {
      throw UsageError(
          fmt::format("--into {}: no results.json there (give a run folder)", a->into.string()));
    }
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
    const auto run_dir = CreateRunDir(std::filesystem::absolute(plan.out_dir), "deploy");
    const DeployTarget t = user_model ? PrepareUserModelDeploy(plan, *a, self, run_dir)
                                      : PrepareBuiltinDeploy(plan, *a, self, run_dir);

    deploy::EndpointOptions eo;
    eo.model = t.model_name;
    eo.inputs = t.request_inputs;
    eo.closed_loop_connections = a->connections;
    eo.duration_s = a->duration_s;
    eo.warmup_s = a->warmup_s;
    eo.p99_bound_ms = a->p99_ms;
    eo.start_rate_per_s = a->start_rate;
    eo.bisection_steps = a->bisection_steps;
    eo.log_dir = run_dir;

    // The same compute threads for every server, recorded in deploy.json.
    const int threads = a->serve_threads > 0 ? a->serve_threads : UsableCoreCount();
    std::cerr << fmt::format("deploy: {} compute threads per server\n", threads);
    // Each server in order: launched, or the reason it is not (a row of the table either way).
    std::vector<std::pair<deploy::ServerLaunch, std::string>> planned;
    for (const bool batching : {true, false}) {
      if ((batching && a->batching == "off") || (!batching && a->batching == "on")) continue;
      deploy::ServerLaunch l;
      l.name = batching ? "fwbench serve (batching)" : "fwbench serve (no batching)";
      if (t.repository.empty()) {
        planned.emplace_back(l, t.serve_refusal);
        continue;
      }
      l.port = deploy::FreeLoopbackPort();
      l.argv = {self.string(),
                "serve",
                t.repository.string(),
                "--port",
                std::to_string(l.port),
                "--max-batch-size",
                batching ? std::to_string(a->max_batch_size) : "1",
                "--threads",
                std::to_string(threads)};
      l.steps = t.serve_steps;
      l.steps.emplace_back("fwbench serve REPOSITORY");
      planned.emplace_back(l, "");
    }
    const auto wanted = [&](const std::string& name) {
      return std::find(a->baselines.begin(), a->baselines.end(), name) != a->baselines.end();
    };
    if (wanted("none") && a->baselines.size() > 1) {
      throw UsageError("--baseline none leaves the peers out; it goes alone");
    }
    if (wanted("fastapi")) {
      deploy::ServerLaunch l;
      l.name = kBaselineName;
      if (t.baseline_python.empty()) {
        std::cerr << "deploy: leaving out the FastAPI baseline: " << t.baseline_refusal << "\n";
        planned.emplace_back(l, t.baseline_refusal);
      } else {
        const auto app_dir = ToolsFile(self, "fastapi_baseline/app.py").parent_path();
        l.port = deploy::FreeLoopbackPort();
        l.argv = {t.baseline_python, "-m",     "uvicorn",   "app:app", "--app-dir",
                  app_dir.string(),  "--host", "127.0.0.1", "--port",  std::to_string(l.port),
                  "--log-level",     "warning"};
        l.env = t.baseline_env;
        l.env.emplace_back("MODEL_THREADS", std::to_string(threads));
        l.steps = t.baseline_steps;
        l.steps.push_back(
            fmt::format("write app.py ({} lines of Python: load, parse, run, respond)",
                        CountLines(app_dir / "app.py")));
        l.steps.emplace_back("python3 -m uvicorn app:app");
        planned.emplace_back(l, "");
      }
    }
    if (wanted("torchserve")) {
      PeerLaunch ts = PrepareTorchServe(t, *a, threads, self, run_dir);
      if (!ts.refusal.empty()) {
        std::cerr << "deploy: leaving out TorchServe: " << ts.refusal << "\n";
      }
      planned.emplace_back(ts.launch, ts.refusal);
    }
    if (wanted("tfserving")) {
      deploy::ServerLaunch l;
      l.name = kTfServingName;
      planned.emplace_back(l, TfServingRefusal());
    }
    nlohmann::json servers = nlohmann::json::array();
    for (const auto& [l, skipped] : planned) {
      if (!skipped.empty()) {
        servers.push_back({{"name", l.name}, {"skipped", skipped}});
        continue;
      }
      try {
        servers.push_back(deploy::MeasureEndpoint(l, eo, std::cerr));
      } catch (const std::runtime_error& e) {
        // A server that cannot load the model (an operator OpenCV DNN lacks) is a finding about
        // that path, not the end of the others'.
        std::cerr << fmt::format("deploy: {} failed: {}\n", l.name, e.what());
        servers.push_back({{"name", l.name}, {"failed", e.what()}});
      }
      // On disk before the next server starts: a later failure loses nothing measured.
      std::ofstream(run_dir / "deploy.partial.json") << servers.dump(2) << "\n";
    }
    // Same model, really: every endpoint's first prediction against the model's own runtime's
    // (the baseline, for a user's model) or else the first endpoint's.
    const auto answered = [](const nlohmann::json& s) {
      return s.contains("first_prediction") && s["first_prediction"].is_object();
    };
    auto chosen = std::find_if(servers.begin(), servers.end(), [&](const nlohmann::json& s) {
      return answered(s) && s["name"] == t.parity_reference;
    });
    if (chosen == servers.end()) chosen = std::find_if(servers.begin(), servers.end(), answered);
    const nlohmann::json* reference = nullptr;
    std::string reference_name;
    if (chosen != servers.end()) {
      reference = &(*chosen)["first_prediction"];
      reference_name = (*chosen)["name"].get<std::string>();
      (*chosen)["parity"] = {{"status", "reference"}};
    }
    for (auto& s : servers) {
      if (reference == nullptr || !answered(s) || &s["first_prediction"] == reference) continue;
      const auto [excess, worst] =
          FirstOutputGap(*reference, s["first_prediction"], t.parity_atol, t.parity_rtol);
      s["parity"] = {{"status", excess <= 0 ? "pass" : "FAIL"},
                     {"max_abs", worst},
                     {"reference", reference_name}};
      if (excess > 0) {
        std::cerr << fmt::format(
            "deploy: WARNING: {} answers differently from {} (max |Δ| {:.3g})\n",
            s["name"].get<std::string>(), reference_name, worst);
      }
    }
    for (auto& s : servers) s.erase("first_prediction");
    nlohmann::json deployment = t.facts;
    deployment.update({{"p99_bound_ms", a->p99_ms},
                       {"duration_s", a->duration_s},
                       {"closed_loop_connections", a->connections},
                       {"max_batch_size", a->max_batch_size},
                       {"max_queue_delay_us", a->max_queue_delay_us},
                       {"compute_threads", threads},
                       {"parity_tolerance", {{"atol", t.parity_atol}, {"rtol", t.parity_rtol}}},
                       {"servers", servers}});
    std::ofstream(run_dir / "deploy.json") << deployment.dump(2) << "\n";
    std::filesystem::remove(run_dir / "deploy.partial.json");
    PrintTable(servers, a->p99_ms, std::cout);
    std::cout << fmt::format("deploy.json: {}\n", (run_dir / "deploy.json").string());
    if (!a->into.empty()) {
      std::filesystem::copy_file(run_dir / "deploy.json", a->into / "deploy.json",
                                 std::filesystem::copy_options::overwrite_existing);
      const RunResults results = BuildResults(a->into);
      WriteResults(a->into, results);
      WriteReportAndSay(a->into, results, std::cerr);
      std::cout << fmt::format("added the deployment row to {}\n", a->into.string());
    }
    const bool any_measured = std::any_of(servers.begin(), servers.end(), [](const auto& s) {
      return s.contains("time_to_ready_s");
    });
    return any_measured ? kExitOk : kExitFailure;
  };
}

}  // namespace fwbench::cli
