#include "orchestrate/builtin_workers.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <future>

#include "core/bounded_json.h"
#include "orchestrate/process.h"

namespace fwbench {

namespace {

struct WorkerDef {
  std::string name;
  std::string description;
  std::string runtime;  // "python" or "node"
  std::string module;   // the worker's name for the framework port
  std::string venv;     // the environment under .venvs/ that install-deps makes for it, if any
  std::vector<std::string> modes;
  std::vector<std::string> auto_modes;
  std::vector<std::string> tasks;
  bool needs_onnx = false;
};

const std::vector<WorkerDef>& Defs() {
  static const std::vector<WorkerDef> defs = {
      {"pytorch",
       "PyTorch (Python worker)",
       "python",
       "torch",
       "torch",
       {"eager", "torchscript", "compiled"},
       {"eager", "compiled"},
       {"train", "infer", "input_pipeline"}},
      {"tensorflow",
       "TensorFlow (Python worker)",
       "python",
       "tensorflow",
       "tf",
       {"eager", "function", "xla"},
       {"eager", "xla"},
       {"train", "infer", "input_pipeline"}},
      {"keras3",
       "Keras 3 (Python worker)",
       "python",
       "keras3",
       "tf",
       // The Keras backend; -nojit: jit_compile off (XLA is on by default on tensorflow and jax).
       {"tensorflow", "torch", "jax", "tensorflow-nojit", "jax-nojit"},
       {"jax", "tensorflow"},
       {"train", "infer"}},
      {"jax",
       "JAX (Python worker)",
       "python",
       "jax",
       "tf",
       {"jit"},
       {"jit"},
       {"train", "infer", "input_pipeline"}},
      {"onnxruntime",
       "ONNX Runtime (Python worker)",
       "python",
       "onnxruntime",
       "tf",
       {"optimized"},
       {"optimized"},
       {"infer"},
       true},
      {"openvino",
       "OpenVINO (Python worker)",
       "python",
       "openvino",
       "openvino",
       {"latency"},
       {"latency"},
       {"infer"},
       true},
      // The Node runtimes are one flag away (--backends auto,onnxruntime-node,tfjs/wasm): the
      // default run compares the Python and C++ stacks within its 5 minutes.
      {"onnxruntime-node",
       "ONNX Runtime (Node worker)",
       "node",
       "ort",
       "",
       {"optimized"},
       {},
       {"infer"},
       true},
      // A second, independent ONNX runtime: for the portability check, not in "auto".
      {"opencv-dnn",
       "OpenCV DNN (Python worker)",
       "python",
       "opencv",
       "",
       {"default"},
       {},
       {"infer"},
       true},
      {"tfjs",
       "TensorFlow.js (Node worker)",
       "node",
       "tfjs",
       "",
       {"wasm", "cpu"},
       {},
       {"train", "infer"}},
  };
  return defs;
}

BuiltinBackend FromDef(const WorkerDef& d) {
  BuiltinBackend b;
  b.name = d.name;
  b.description = d.description;
  b.modes = d.modes;
  b.auto_modes = d.auto_modes;
  b.tasks = d.tasks;
  b.needs_onnx = d.needs_onnx;
  b.python = d.runtime == "python";
  if (const std::string mode = PipelineModeFor(d.name); !mode.empty()) {
    b.task_modes[kTaskInputPipeline] = {mode};
  }
  return b;
}

// Runs a probe and returns its stdout's last JSON line; throws with the reason otherwise.
nlohmann::json RunProbe(const std::vector<std::string>& argv) {
  std::string last;
  ProcessOptions options;
  options.argv = argv;
  char log_template[] = "/tmp/fwbench-probe-XXXXXX";
  const int fd = mkstemp(log_template);
  if (fd >= 0) close(fd);
  options.stderr_path = fd >= 0 ? std::filesystem::path(log_template) : "/dev/null";
  options.timeout_s = 120.0;
  const ProcessResult r = RunProcess(options, [&](std::string_view line) {
    if (!line.empty()) last = std::string(line);
    return true;
  });
  if (!r.started)
    throw std::runtime_error(fmt::format("cannot start {}: {}", argv[0], r.start_error));
  if (r.timed_out) throw std::runtime_error("the probe did not answer within 120 s");
  nlohmann::json j = ParseJsonOrDiscard(last);
  std::string tail;
  if (fd >= 0) {
    std::ifstream in(log_template);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) tail = line;
    }
    std::filesystem::remove(log_template);
  }
  if (!j.is_object() && r.term_signal != 0) {
    throw std::runtime_error(fmt::format("{} was killed by {}{}", argv[0],
                                         DescribeSignal(r.term_signal),
                                         tail.empty() ? "" : " (stderr: " + tail + ")"));
  }
  if (!j.is_object() && !tail.empty() && r.exit_code != 127) {
    throw std::runtime_error(fmt::format("{} exited with code {}: {}", argv[0], r.exit_code, tail));
  }
  if (!j.is_object()) {
    if (r.exit_code == 127) {
      throw std::runtime_error(fmt::format("{} is not an executable program", argv[0]));
    }
    throw std::runtime_error(
        fmt::format("{} exited with code {} without an answer", argv[0], r.exit_code));
  }
  return j;
}

}  // namespace

bool IsExecutableFile(const std::filesystem::path& p) {
  return std::filesystem::is_regular_file(p) && access(p.c_str(), X_OK) == 0;
}

std::string PipelineLoaderFor(const std::string& backend) {
  if (backend == kLibtorchBackend) return "cpp";
  if (backend == "pytorch") return "dataloader";
  if (backend == "tensorflow") return "tf.data";
  if (backend == "jax") return "grain";
  return "";
}

std::string PipelineModeFor(const std::string& backend) {
  if (backend == kLibtorchBackend || backend == "pytorch") return "eager";
  if (backend == "tensorflow") return "xla";
  if (backend == "jax") return "jit";
  return "";
}

bool BuiltinBackend::RunsMode(const std::string& mode) const {
  return std::find(modes.begin(), modes.end(), mode) != modes.end();
}

const std::vector<std::string>& BuiltinBackend::CommandFor(const std::string& mode) const {
  const auto it = mode_commands.find(mode);
  return it == mode_commands.end() ? command : it->second;
}

bool BuiltinBackend::RunsTask(const std::string& task) const {
  if (task == kTaskTrainDdp) return !ddp_modes.empty();
  return std::find(tasks.begin(), tasks.end(), task) != tasks.end();
}

std::string BuiltinBackend::WorkloadRefusal(const std::string& workload,
                                            const std::string& mode) const {
  if (std::find(workloads.begin(), workloads.end(), workload) == workloads.end()) {
    return fmt::format("the {} port does not implement the {} workload (it runs {})", name,
                       workload, fmt::join(workloads, ", "));
  }
  if (workload == kWorkloadUserModel && !model_refusal.empty()) return model_refusal;
  if (const auto it = workload_modes.find(workload); it != workload_modes.end()) {
    if (std::find(it->second.begin(), it->second.end(), mode) == it->second.end()) {
      return fmt::format("{}/{} does not run the {} workload (modes that do: {})", name, mode,
                         workload, fmt::join(it->second, ", "));
    }
  }
  return "";
}

std::filesystem::path WorkersDir(const std::filesystem::path& self_exe) {
  if (const char* env = std::getenv("FWBENCH_WORKERS_DIR"); env != nullptr && *env != '\0') {
    return std::filesystem::absolute(env);
  }
  std::filesystem::path beside = self_exe.parent_path().parent_path() / "workers";
  if (std::filesystem::is_directory(beside / "python")) return beside;
  return std::filesystem::path(FWBENCH_SOURCE_DIR) / "workers";
}

std::filesystem::path FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return {};
  std::string_view rest(path);
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const std::filesystem::path dir(rest.substr(0, colon));
    if (!dir.empty() && IsExecutableFile(dir / name)) return dir / name;
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return {};
}

std::vector<std::string> PythonCandidates() {
  if (const char* env = std::getenv("FWBENCH_PYTHON"); env != nullptr && *env != '\0') {
    return {env};
  }
  std::vector<std::string> out;
  if (const auto on_path = FindOnPath("python3"); !on_path.empty()) {
    out.push_back(on_path.string());
  }
  if (IsExecutableFile("/usr/bin/python3")) {
    std::error_code ec;
    const bool same = !out.empty() && std::filesystem::equivalent(out[0], "/usr/bin/python3", ec);
    if (!same) out.push_back("/usr/bin/python3");
  }
  return out;
}

std::vector<BuiltinBackend> BuiltinWorkerCatalogue() {
  std::vector<BuiltinBackend> out;
  for (const WorkerDef& d : Defs()) out.push_back(FromDef(d));
  return out;
}

BuiltinBackend LibtorchCatalogueEntry(const std::filesystem::path& self_exe,
                                      const std::vector<BuiltinBackend>& workers,
                                      ConfigurationRefusal refusal) {
  BuiltinBackend b;
  b.name = std::string(kLibtorchBackend);
  b.description = "LibTorch (built in)";
  b.command = {self_exe.string(), "trial", "{spec}"};
  b.modes = {"eager", "compiled", "aoti"};
  // Not aoti: its compile step runs torch.export and a C++ compiler (a minute for ResNet-18).
  b.auto_modes = {"eager", "compiled"};
  b.tasks = {"train", "infer", kTaskInputPipeline};
  b.task_modes[kTaskInputPipeline] = {PipelineModeFor(b.name)};
  // Gradients averaged with c10d's Gloo process group (a LibTorch without it refuses).
  b.ddp_modes = {"eager", "compiled"};
  b.precisions = {"fp32", "bf16"};
  b.memory_formats = {"contiguous", "channels_last"};
  b.workloads = {"image_classification", "llm_lora"};
  b.workload_modes["llm_lora"] = {"eager", "compiled"};
  b.saving_modes = {"compiled", "aoti"};
  b.mode_uses_worker["aoti"] = "pytorch";
  b.refusal = std::move(refusal);
  // libtorch/aoti's trial runs the PyTorch worker's exporter (torch.export is Python): it is
  // told which interpreter and worker program serve pytorch here (the plan's, or .venvs/torch).
  const auto pytorch = std::find_if(workers.begin(), workers.end(),
                                    [](const BuiltinBackend& w) { return w.name == "pytorch"; });
  if (pytorch != workers.end() && pytorch->Available() && pytorch->command.size() >= 2) {
    b.mode_commands["aoti"] = {self_exe.string(),   "trial",
                               "--pytorch-worker",  pytorch->command[0],
                               pytorch->command[1], "{spec}"};
  } else {
    b.mode_unavailable["aoti"] = fmt::format(
        "libtorch/aoti exports the model with PyTorch (torch.export + AOTInductor), and the "
        "PyTorch worker cannot run here: {} (scripts/install-deps.sh makes .venvs/torch)",
        pytorch == workers.end() ? "not in the catalogue" : pytorch->unavailable);
  }
  return b;
}

std::vector<BuiltinBackend> BackendCatalogue() {
  std::vector<BuiltinBackend> out = {LibtorchCatalogueEntry("fwbench", {})};
  for (BuiltinBackend& b : BuiltinWorkerCatalogue()) out.push_back(std::move(b));
  return out;
}

std::filesystem::path VenvsDir(const std::filesystem::path& workers_dir) {
  if (const char* env = std::getenv("FWBENCH_VENVS"); env != nullptr && *env != '\0') {
    return std::filesystem::absolute(env);
  }
  return workers_dir.parent_path() / ".venvs";
}

std::vector<BuiltinBackend> ProbeBuiltinWorkers(
    const std::filesystem::path& workers_dir,
    const std::map<std::string, std::string>& python_overrides,
    const std::optional<std::set<std::string>>& only, bool onnx_export) {
  std::vector<BuiltinBackend> out;
  const std::vector<std::string> pythons = PythonCandidates();
  const bool python_from_env =
      std::getenv("FWBENCH_PYTHON") != nullptr && *std::getenv("FWBENCH_PYTHON") != '\0';
  const char* node_env = std::getenv("FWBENCH_NODE");
  const std::string node = node_env != nullptr && *node_env != '\0' ? node_env : "node";
  // Each probe imports a framework (TensorFlow, torch: seconds each): they run side by side.
  const auto probe = [&](const WorkerDef& d) {
    BuiltinBackend b = FromDef(d);
    if (only && !only->contains(d.name)) {
      b.unavailable = "not probed: this run does not name it";
      return b;
    }
    std::vector<std::string> interpreters;
    std::filesystem::path entry;
    if (d.runtime == "python") {
      interpreters = pythons;
      if (const auto it = python_overrides.find(d.name); it != python_overrides.end()) {
        interpreters = {it->second};  // the plan's [workers.NAME] python: that one or none
      } else if (!python_from_env && !d.venv.empty()) {
        const std::filesystem::path venv_python = VenvsDir(workers_dir) / d.venv / "bin" / "python";
        if (IsExecutableFile(venv_python)) {
          interpreters.insert(interpreters.begin(), venv_python.string());
        }
      }
      entry = workers_dir / "python" / "fwbench_worker.py";
    } else {
      interpreters = {node};
      entry = workers_dir / "node" / "worker.js";
      if (!std::filesystem::is_directory(workers_dir / "node" / "node_modules")) {
        b.unavailable = fmt::format("{} has no node_modules: run ./scripts/install-deps.sh",
                                    (workers_dir / "node").string());
        return b;
      }
    }
    if (!std::filesystem::is_regular_file(entry)) {
      b.unavailable = fmt::format(
          "{} is missing (set FWBENCH_WORKERS_DIR to the workers/ "
          "folder of the fwbench source tree)",
          entry.string());
      return b;
    }
    if (interpreters.empty()) b.unavailable = "no python3 found (PATH, /usr/bin/python3)";
    std::vector<std::string> reasons;
    for (const std::string& interpreter : interpreters) {
      try {
        const nlohmann::json j = RunProbe({interpreter, entry.string(), "--probe", d.module});
        if (!j.value("available", false)) {
          reasons.push_back(fmt::format("{}: {}", interpreter, j.value("reason", "not available")));
          continue;
        }
        b.version = j.value("version", "");
        b.port_file = j.value("port_file", "");
        b.precisions = j.value("precisions", std::vector<std::string>{"fp32"});
        b.memory_formats = j.value("memory_formats", std::vector<std::string>{"contiguous"});
        b.workloads = j.value("workloads", std::vector<std::string>{"image_classification"});
        b.model_formats = j.value("model_formats", std::vector<std::string>{});
        b.ddp_modes = j.value("ddp_modes", std::vector<std::string>{});
        if (j.contains("model_format_modes") && j["model_format_modes"].is_object()) {
          for (const auto& [f, m] : j["model_format_modes"].items()) {
            if (m.is_array()) b.model_format_modes[f] = m.get<std::vector<std::string>>();
          }
        }
        if (j.contains("workload_port_files") && j["workload_port_files"].is_object()) {
          for (const auto& [w, files] : j["workload_port_files"].items()) {
            if (!files.is_array()) continue;
            for (const auto& f : files) {
              if (f.is_string()) b.workload_port_files[w].emplace_back(f.get<std::string>());
            }
          }
        }
        if (j.contains("workload_modes") && j["workload_modes"].is_object()) {
          for (const auto& [w, m] : j["workload_modes"].items()) {
            if (m.is_array()) b.workload_modes[w] = m.get<std::vector<std::string>>();
          }
        }
        for (const std::string& f : j.value("port_files", std::vector<std::string>{})) {
          b.port_files.emplace_back(f);
        }
        if (b.port_files.empty() && !b.port_file.empty()) b.port_files = {b.port_file};
        const nlohmann::json modes = j.contains("modes") ? j["modes"] : nlohmann::json::object();
        for (const auto& [mode, why] : modes.items()) {
          if (why.is_string() && !why.get<std::string>().empty()) {
            b.mode_unavailable[mode] = why.get<std::string>();
          }
        }
        b.command = {interpreter, entry.string(), d.module, "{spec}"};
        if (d.runtime == "python") {
          b.interpreter = interpreter;
          b.python_version = j.value("python_version", "");
        }
        b.unavailable.clear();
        reasons.clear();
        break;
      } catch (const std::exception& e) {
        reasons.push_back(fmt::format("{}: {}", interpreter, e.what()));
      }
    }
    if (!reasons.empty()) b.unavailable = fmt::format("{}", fmt::join(reasons, "; "));
    return b;
  };
  std::vector<std::future<BuiltinBackend>> probes;
  probes.reserve(Defs().size());
  for (const WorkerDef& d : Defs()) probes.push_back(std::async(std::launch::async, probe, d));
  out.reserve(probes.size());
  for (auto& f : probes) out.push_back(f.get());
  // ONNX backends run the export that the PyTorch worker makes: without it they cannot run.
  const auto pytorch = std::find_if(out.begin(), out.end(),
                                    [](const BuiltinBackend& b) { return b.name == "pytorch"; });
  for (BuiltinBackend& b : out) {
    if (onnx_export && b.needs_onnx && b.Available() && pytorch != out.end() &&
        !pytorch->Available()) {
      b.unavailable =
          "it runs the ONNX export of the weights, which the PyTorch worker makes, "
          "and that cannot run here: " +
          pytorch->unavailable;
    }
  }
  return out;
}

nlohmann::json ToJson(const BuiltinBackend& b) {
  nlohmann::json j = {{"name", b.name},
                      {"description", b.description},
                      {"available", b.Available()},
                      {"modes", b.modes},
                      {"tasks", b.tasks}};
  if (b.Available()) {
    j["version"] = b.version;
    j["command"] = b.command;
    if (!b.interpreter.empty()) {
      j["interpreter"] = b.interpreter;
      j["python_version"] = b.python_version;
    }
    j["mode_unavailable"] = b.mode_unavailable;
    j["precisions"] = b.precisions;
    j["memory_formats"] = b.memory_formats;
    j["workloads"] = b.workloads;
    if (!b.workload_modes.empty()) j["workload_modes"] = b.workload_modes;
    if (!b.ddp_modes.empty()) j["ddp_modes"] = b.ddp_modes;
    if (!b.model_formats.empty()) j["model_formats"] = b.model_formats;
    if (!b.port_file.empty()) {
      j["port_file"] = b.port_file.string();
      std::int64_t lines = 0;
      for (const auto& f : b.port_files) lines += std::max<std::int64_t>(0, CountCodeLines(f));
      j["port_code_lines"] = lines;
    }
  } else {
    j["reason"] = b.unavailable;
  }
  return j;
}

std::int64_t CountCodeLines(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return -1;
  const std::string ext = file.extension().string();
  const bool python = ext == ".py";
  std::int64_t count = 0;
  bool in_block = false;  // inside /* … */ or a """docstring"""
  std::string line;
  while (std::getline(in, line)) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    const std::string_view s = std::string_view(line).substr(first);
    const std::string_view open = python ? "\"\"\"" : "/*";
    const std::string_view close = python ? "\"\"\"" : "*/";
    if (in_block) {
      if (s.find(close) != std::string_view::npos) in_block = false;
      continue;
    }
    if (python ? s.starts_with("#") : s.starts_with("//")) continue;
    if (s.starts_with(open)) {
      // A block that does not close on its own line continues.
      in_block = s.substr(open.size()).find(close) == std::string_view::npos;
      continue;
    }
    ++count;
  }
  return count;
}

nlohmann::json DescribeModel(const BuiltinBackend& worker, const std::string& model,
                             const std::filesystem::path& import_path) {
  if (!worker.python || worker.command.size() < 3) {
    throw std::runtime_error(fmt::format("{} cannot describe a model", worker.name));
  }
  // command is {interpreter, fwbench_worker.py, module, "{spec}"}.
  std::vector<std::string> argv = {worker.command[0], worker.command[1], "--describe-model",
                                   worker.command[2], model};
  if (!import_path.empty()) argv.push_back(import_path.string());
  nlohmann::json j = RunProbe(argv);
  if (!j.value("ok", false)) throw std::runtime_error(j.value("reason", "it did not say why"));
  return j;
}

nlohmann::json ConvertModel(const BuiltinBackend& worker, const nlohmann::json& request,
                            const std::filesystem::path& work_dir, double timeout_s) {
  if (!worker.python || worker.command.size() < 3) {
    return {{"ok", false}, {"reason", fmt::format("{} converts no models", worker.name)}};
  }
  const std::string out = request.at("out").get<std::string>();
  const std::filesystem::path request_file = out + ".request.json";
  const std::filesystem::path log = out + ".convert.log";
  std::filesystem::create_directories(work_dir);
  {
    std::ofstream f(request_file);
    f << request.dump(2) << "\n";
    if (!f) return {{"ok", false}, {"reason", "cannot write " + request_file.string()}};
  }
  try {
    nlohmann::json j =
        RunWorkerCommand({worker.command[0], worker.command[1], "--convert-model",
                          worker.command[2], request_file.string()},
                         log, timeout_s, fmt::format("{}'s conversion", worker.name));
    std::filesystem::remove(request_file);
    if (j.value("ok", false)) std::filesystem::remove(log);
    return j;
  } catch (const std::exception& e) {
    return {{"ok", false}, {"reason", e.what()}};
  }
}

}  // namespace fwbench

namespace fwbench {

nlohmann::json ExportOnnx(const BuiltinBackend& pytorch, const std::string& arch,
                          const std::string& stem, std::int64_t num_classes,
                          const std::filesystem::path& weights, const std::filesystem::path& out,
                          bool raw) {
  if (!pytorch.Available() || pytorch.command.size() < 2) {
    throw std::runtime_error("the ONNX export needs the PyTorch worker, which cannot run here: " +
                             pytorch.unavailable);
  }
  const std::filesystem::path log = out.string() + ".export.log";
  std::vector<std::string> argv = {
      pytorch.command[0],          pytorch.command[1], "--export-onnx", arch, stem,
      std::to_string(num_classes), weights.string(),   out.string()};
  if (raw) argv.push_back("raw");
  nlohmann::json j =
      RunWorkerCommand(argv, log, 600.0, fmt::format("ONNX export of {}", weights.string()));
  std::filesystem::remove(log);
  return j;
}

nlohmann::json RunWorkerCommand(const std::vector<std::string>& argv,
                                const std::filesystem::path& log, double timeout_s,
                                const std::string& what) {
  std::string last;
  ProcessOptions options;
  options.argv = argv;
  options.stderr_path = log;
  options.timeout_s = timeout_s;
  const ProcessResult r = RunProcess(options, [&](std::string_view line) {
    if (!line.empty()) last = std::string(line);
    return true;
  });
  nlohmann::json j = ParseJsonOrDiscard(last);
  if (!r.started || r.exit_code != 0 || !j.is_object()) {
    std::ifstream in(log);
    std::string line, tail;
    while (std::getline(in, line)) {
      if (!line.empty()) tail = line;
    }
    throw std::runtime_error(fmt::format(
        "{} failed ({}): {} (log: {})", what,
        r.started ? fmt::format("exit code {}", r.exit_code) : r.start_error, tail, log.string()));
  }
  return j;
}

}  // namespace fwbench
