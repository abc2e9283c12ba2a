// `fwbench deploy`: the path from the benchmark's model to a served endpoint, measured for fwbench
// serve (dynamic batching on and off) and for the FastAPI + uvicorn + PyTorch baseline: the steps
// a user performs, time to ready, time to the first prediction, throughput under load and the
// highest rate whose p99 stays under a bound, memory, and a clean stop.
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/plan_options.h"
#include "core/error.h"
#include "deploy/endpoint_measure.h"
#include "deploy/server_process.h"
#include "orchestrate/process.h"
#include "orchestrate/run_plan.h"
#include "pipeline/run_inputs.h"
#include "report/results.h"
#include "serve/model_config.h"

namespace fwbench::cli {

namespace {

struct DeployArgs {
  std::int64_t image_size = 0;  // 0: 224 for the imagenet stem, 32 for cifar
  std::string baseline = "fastapi";
  std::string batching = "both";
  int max_batch_size = 8;
  int max_queue_delay_us = 5000;
  double p99_ms = 1000.0;
  double duration_s = 10.0;
  double warmup_s = 2.0;
  int connections = 8;
  double start_rate = 1.0;
  int bisection_steps = 4;
  std::filesystem::path into;
};

std::filesystem::path FastapiAppDir(const std::filesystem::path& self) {
  auto beside = self.parent_path().parent_path() / "tools" / "fastapi_baseline";
  if (std::filesystem::is_regular_file(beside / "app.py")) return beside;
  return std::filesystem::path(FWBENCH_SOURCE_DIR) / "tools" / "fastapi_baseline";
}

// The first interpreter that has FastAPI, uvicorn and torch, or why none does.
std::pair<std::string, std::string> FindFastapiPython(const std::filesystem::path& log_dir) {
  std::string why = "no python3 found";
  for (const std::string& python : PythonCandidates()) {
    ProcessOptions p;
    p.argv = {python, "-c", "import fastapi, uvicorn, torch; print(fastapi.__version__)"};
    p.stderr_path = log_dir / "fastapi-probe.log";
    p.timeout_s = 60;
    const ProcessResult r = RunProcess(p, [](std::string_view) { return true; });
    if (r.exit_code == 0) return {python, ""};
    std::ifstream in(p.stderr_path);
    std::string all((std::istreambuf_iterator<char>(in)), {});
    const auto last = all.find_last_of('\n', all.size() >= 2 ? all.size() - 2 : 0);
    why = fmt::format(
        "{} cannot import fastapi, uvicorn and torch ({}); Debian: apt-get install "
        "python3-fastapi python3-uvicorn python3-torch",
        python, all.substr(last == std::string::npos ? 0 : last + 1, 200));
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

double MaxAbsDiff(const nlohmann::json& a, const nlohmann::json& b) {
  const auto& x = a.at("outputs").at(0).at("data");
  const auto& y = b.at("outputs").at(0).at("data");
  if (x.size() != y.size()) return INFINITY;
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    worst = std::max(worst, std::abs(x[i].get<double>() - y[i].get<double>()));
  }
  return worst;
}

void PrintTable(const nlohmann::json& servers, double p99_ms, std::ostream& out) {
  out << fmt::format("\n{:<28} {:>6} {:>9} {:>11} {:>12} {:>10} {:>13} {:>9}\n", "server", "steps",
                     "ready s", "1st pred s", "closed req/s", "p99 ms", "max rate/s", "peak MB");
  for (const auto& s : servers) {
    if (s.contains("skipped")) {
      out << fmt::format("{:<28} skipped: {}\n", s["name"].get<std::string>(),
                         s["skipped"].get<std::string>());
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

}  // namespace

Command AddDeployCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "deploy",
      "Measure the path from the model to a served endpoint: export to TorchScript, a model "
      "repository, then for fwbench serve (dynamic batching on and off) and the FastAPI + "
      "uvicorn + PyTorch baseline: start, ready, first prediction, a closed-loop load test and "
      "the highest rate with p99 under --p99-ms, peak memory, clean stop. Writes deploy.json "
      "(and, with --into RUN, the deployment row of that run's verdict matrix).");
  auto a = std::make_shared<DeployArgs>();
  auto options = std::make_shared<PlanOptions>();
  cmd->add_option("--image-size", a->image_size,
                  "Input height and width of the served model (default 224 for the imagenet "
                  "stem, 32 for cifar)")
      ->check(CLI::Range(8, 1024));
  cmd->add_option("--baseline", a->baseline, "fastapi or none")
      ->check(CLI::IsMember({"fastapi", "none"}))
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
  cmd->add_option("--into", a->into,
                  "A run folder: add the deployment figures to its results.json and report");
  AddPlanOptions(*cmd, *options);
  return [a, options]() {
    Plan plan = BuildPlan(*options);
    if (plan.workload != kWorkloadImage) {
      throw UsageError("fwbench deploy serves the image_classification workload's model");
    }
    if (!a->into.empty() && !std::filesystem::is_regular_file(a->into / "results.json")) {
      throw UsageError(
          fmt::format("--into {}: no results.json there (give a run folder)", a->into.string()));
    }
    const std::int64_t size =
        a->image_size > 0 ? a->image_size : (plan.stem == "imagenet" ? 224 : 32);
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
    const auto run_dir = CreateRunDir(std::filesystem::absolute(plan.out_dir), "deploy");
    std::cerr << fmt::format("deploy: {} {} at {}×{}, run folder {}\n", plan.arch, plan.stem, size,
                             size, run_dir.string());

    // 1. Export, timed: what `fwbench export --to torchscript` does.
    const auto t_export = std::chrono::steady_clock::now();
    const std::vector<BuiltinBackend> builtins =
        ProbeBuiltinWorkers(WorkersDir(self), plan.worker_pythons);
    const std::string model_name = plan.arch;
    const auto repo = run_dir / "repository";
    const auto model_file = repo / model_name / "1" / "model.pt";
    const std::filesystem::path data_dir = pipeline::PrepareData(plan);  // creates the cache folder
    const std::filesystem::path weights = pipeline::PrepareWeights(plan);
    const TorchScriptExport exported =
        ExportTorchScript(plan, builtins, data_dir, weights, model_file);
    const double export_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_export).count();
    serve::ModelConfig config;
    config.signature.name = model_name;
    config.signature.inputs = {{"input", "FP32", {-1, 3, size, size}}};
    config.signature.outputs = {{"logits", "FP32", {-1, plan.num_classes}}};
    config.batching.max_batch_size = static_cast<std::size_t>(a->max_batch_size);
    config.batching.max_queue_delay_ns = std::int64_t{a->max_queue_delay_us} * 1000;
    config.batching.max_queue = 256;
    config.batching.request_timeout_ns = 60'000'000'000;
    const auto config_file = repo / model_name / "config.toml";
    std::ofstream(config_file) << serve::ModelConfigToml(config);
    std::cerr << fmt::format("deploy: exported {} in {:.1f} s ({}); repository {}\n",
                             model_file.string(), export_s, exported.parity, repo.string());

    deploy::EndpointOptions eo;
    eo.model = model_name;
    eo.inputs = {{"input", "FP32", {1, 3, size, size}}};
    eo.closed_loop_connections = a->connections;
    eo.duration_s = a->duration_s;
    eo.warmup_s = a->warmup_s;
    eo.p99_bound_ms = a->p99_ms;
    eo.start_rate_per_s = a->start_rate;
    eo.bisection_steps = a->bisection_steps;
    eo.log_dir = run_dir;

    const std::string export_step = fmt::format(
        "export the model to TorchScript (fwbench export --to torchscript: {:.1f} s)", export_s);
    std::vector<deploy::ServerLaunch> launches;
    for (const bool batching : {true, false}) {
      if ((batching && a->batching == "off") || (!batching && a->batching == "on")) continue;
      deploy::ServerLaunch l;
      l.name = batching ? "fwbench serve (batching)" : "fwbench serve (no batching)";
      l.port = deploy::FreeLoopbackPort();
      l.argv = {self.string(),
                "serve",
                repo.string(),
                "--port",
                std::to_string(l.port),
                "--max-batch-size",
                batching ? std::to_string(a->max_batch_size) : "1"};
      l.steps = {export_step,
                 fmt::format("write {}/config.toml ({} lines: inputs, outputs, batching)",
                             model_name, CountLines(config_file)),
                 "fwbench serve REPOSITORY"};
      launches.push_back(l);
    }
    nlohmann::json servers = nlohmann::json::array();
    if (a->baseline == "fastapi") {
      const auto [python, why] = FindFastapiPython(run_dir);
      if (python.empty()) {
        std::cerr << "deploy: leaving out the FastAPI baseline: " << why << "\n";
        servers.push_back({{"name", "fastapi + uvicorn"}, {"skipped", why}});
      } else {
        const auto app_dir = FastapiAppDir(self);
        deploy::ServerLaunch l;
        l.name = "fastapi + uvicorn";
        l.port = deploy::FreeLoopbackPort();
        l.argv = {python,           "-m",     "uvicorn",   "app:app", "--app-dir",
                  app_dir.string(), "--host", "127.0.0.1", "--port",  std::to_string(l.port),
                  "--log-level",    "warning"};
        l.env = {{"MODEL_PATH", model_file.string()}, {"MODEL_NAME", model_name}};
        l.steps = {export_step,
                   fmt::format("write app.py ({} lines of Python: load, parse, run, respond)",
                               CountLines(app_dir / "app.py")),
                   "python3 -m uvicorn app:app"};
        launches.push_back(l);
      }
    }
    for (const auto& l : launches) {
      nlohmann::json s = deploy::MeasureEndpoint(l, eo, std::cerr);
      servers.push_back(std::move(s));
      // On disk before the next server starts: a later failure loses nothing measured.
      std::ofstream(run_dir / "deploy.partial.json") << servers.dump(2) << "\n";
    }
    // Same model, really: every endpoint's first prediction against the first one's.
    const nlohmann::json* reference = nullptr;
    for (auto& s : servers) {
      if (!s.contains("first_prediction") || !s["first_prediction"].is_object()) continue;
      if (reference == nullptr) {
        reference = &s["first_prediction"];
        s["parity"] = {{"status", "reference"}};
        continue;
      }
      const double diff = MaxAbsDiff(*reference, s["first_prediction"]);
      s["parity"] = {{"status", diff <= 1e-4 ? "pass" : "FAIL"}, {"max_abs", diff}};
      if (diff > 1e-4) {
        std::cerr << fmt::format(
            "deploy: WARNING: {} answers differently from {} (max |Δ| {:.3g})\n",
            s["name"].get<std::string>(), servers[0]["name"].get<std::string>(), diff);
      }
    }
    for (auto& s : servers) s.erase("first_prediction");
    const nlohmann::json deployment = {{"model", model_name},
                                       {"arch", plan.arch},
                                       {"stem", plan.stem},
                                       {"image_size", size},
                                       {"export_s", export_s},
                                       {"export_parity", exported.parity},
                                       {"p99_bound_ms", a->p99_ms},
                                       {"duration_s", a->duration_s},
                                       {"closed_loop_connections", a->connections},
                                       {"max_batch_size", a->max_batch_size},
                                       {"max_queue_delay_us", a->max_queue_delay_us},
                                       {"servers", servers}};
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
    return kExitOk;
  };
}

}  // namespace fwbench::cli
