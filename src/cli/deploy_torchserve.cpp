#include "cli/deploy_torchserve.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>

#include "deploy/server_process.h"
#include "orchestrate/builtin_workers.h"
#include "orchestrate/process.h"

namespace fwbench::cli {

namespace {

std::string LastLine(const std::filesystem::path& log) {
  std::ifstream in(log);
  std::string all((std::istreambuf_iterator<char>(in)), {});
  while (!all.empty() && (all.back() == '\n' || all.back() == '\r')) all.pop_back();
  const auto at = all.find_last_of('\n');
  return all.substr(at == std::string::npos ? 0 : at + 1, 300);
}

}  // namespace

std::string TfServingRefusal() {
  const auto binary = FindOnPath("tensorflow_model_server");
  if (!binary.empty()) {
    return fmt::format(
        "{} is here, but fwbench deploy exports no SavedModel of this model for it; run it on "
        "your SavedModel and measure it with fwbench load --protocol tfserving",
        binary.string());
  }
  return "TF Serving's tensorflow_model_server is in none of the registries fwbench installs "
         "from (Debian 12, PyPI, npm; tensorflow-serving-api on PyPI holds only its client "
         "stubs); where you have one, fwbench load --protocol tfserving measures it";
}

PeerLaunch PrepareTorchServe(const DeployTarget& t, const DeployArgs& a, int threads,
                             const std::filesystem::path& self,
                             const std::filesystem::path& run_dir) {
  PeerLaunch p;
  p.launch.name = kTorchServeName;
  const auto model_file = t.repository / t.model_name / "1" / "model.pt";
  if (t.repository.empty() || !std::filesystem::is_regular_file(model_file)) {
    p.refusal =
        "TorchServe is measured on the model's TorchScript file, and this model has none (fwbench "
        "serve runs it as ONNX or AOTInductor)";
    return p;
  }
  const auto bin = VenvsDir(WorkersDir(self)) / "torch" / "bin";
  std::filesystem::path torchserve = bin / "torchserve";
  std::filesystem::path archiver = bin / "torch-model-archiver";
  if (!IsExecutableFile(torchserve) || !IsExecutableFile(archiver)) {
    torchserve = FindOnPath("torchserve");
    archiver = FindOnPath("torch-model-archiver");
  }
  if (torchserve.empty() || archiver.empty()) {
    p.refusal = fmt::format(
        "torchserve and torch-model-archiver are not in {} nor on PATH "
        "(scripts/install-deps.sh puts them in .venvs/torch)",
        bin.string());
    return p;
  }
  if (FindOnPath("java").empty() && std::getenv("JAVA_HOME") == nullptr) {
    p.refusal =
        "TorchServe's frontend needs Java 11 or later, and no java is on PATH (Debian: apt-get "
        "install openjdk-17-jre-headless)";
    return p;
  }
  const auto dir = run_dir / "torchserve";
  const auto store = dir / "model_store";
  std::filesystem::create_directories(store);
  std::filesystem::create_directories(dir / "tmp");
  std::filesystem::create_directories(dir / "logs");
  const auto handler = ToolsFile(self, "torchserve_baseline/tensor_handler.py");
  const auto model_config = dir / "model-config.yaml";
  std::ofstream(model_config) << fmt::format(
      "minWorkers: 1\nmaxWorkers: 1\nbatchSize: {}\nmaxBatchDelay: {}\nresponseTimeout: 120\n",
      a.max_batch_size, std::max(1, a.max_queue_delay_us / 1000));
  ProcessOptions archive;
  archive.argv = {archiver.string(),
                  "--model-name",
                  t.model_name,
                  "--version",
                  "1",
                  "--serialized-file",
                  model_file.string(),
                  "--handler",
                  handler.string(),
                  "--config-file",
                  model_config.string(),
                  "--export-path",
                  store.string(),
                  "-f"};
  archive.stderr_path = dir / "archiver.log";
  archive.timeout_s = 300;
  const auto t0 = std::chrono::steady_clock::now();
  const ProcessResult r = RunProcess(archive, [](std::string_view) { return true; });
  const double archive_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (r.exit_code != 0) {
    p.refusal = fmt::format("torch-model-archiver failed (exit {}): {}", r.exit_code,
                            LastLine(archive.stderr_path));
    return p;
  }
  p.launch.port = deploy::FreeLoopbackPort();
  p.launch.ready_port = deploy::FreeLoopbackPort();
  const auto config = dir / "config.properties";
  // The worker's socket is /tmp/.ts.sock.<initial_worker_port>: a free port number keeps two
  // deploys (or a user's own TorchServe on the default 9000) apart.
  std::ofstream(config) << fmt::format(
      "inference_address=http://127.0.0.1:{}\nmanagement_address=http://127.0.0.1:{}\n"
      "metrics_address=http://127.0.0.1:{}\ninitial_worker_port={}\n"
      "disable_token_authorization=true\ndefault_workers_per_model=1\n"
      "install_py_dep_per_model=false\n",
      p.launch.port, p.launch.ready_port, deploy::FreeLoopbackPort(), deploy::FreeLoopbackPort());
  p.launch.argv = {torchserve.string(), "--start",
                   "--foreground",      "--ncs",
                   "--model-store",     store.string(),
                   "--models",          t.model_name + "=" + t.model_name + ".mar",
                   "--ts-config",       config.string()};
  // TMPDIR: the launcher's pid file (one TorchServe per TMPDIR); LOG_LOCATION and
  // METRICS_LOCATION: its logs, which go to ./logs otherwise.
  p.launch.env = {{"MODEL_THREADS", std::to_string(threads)},
                  {"TMPDIR", (dir / "tmp").string()},
                  {"LOG_LOCATION", (dir / "logs").string()},
                  {"METRICS_LOCATION", (dir / "logs").string()}};
  p.launch.protocol = loadgen::LoadProtocol::kTorchServe;
  p.launch.ready_path = "/models/" + t.model_name;
  p.launch.ready_marker = "\"READY\"";
  // The steps that made the TorchScript file (fwbench serve's, less its config.toml).
  for (const auto& step : t.serve_steps) {
    if (step.find("config.toml") == std::string::npos) p.launch.steps.push_back(step);
  }
  p.launch.steps.push_back(fmt::format("write a handler ({}: {} lines of Python)",
                                       handler.filename().string(), CountLines(handler)));
  p.launch.steps.push_back(fmt::format("write model-config.yaml ({} lines: workers, batching)",
                                       CountLines(model_config)));
  p.launch.steps.push_back(fmt::format(
      "torch-model-archiver --serialized-file model.pt --handler ... ({:.1f} s)", archive_s));
  p.launch.steps.push_back(
      fmt::format("write config.properties ({} lines: addresses, token authorization off, workers)",
                  CountLines(config)));
  p.launch.steps.emplace_back("torchserve --start --foreground --model-store ... --models ...");
  std::cerr << fmt::format("deploy: archived {} for TorchServe in {:.1f} s ({})\n",
                           model_file.string(), archive_s, store.string());
  return p;
}

}  // namespace fwbench::cli
