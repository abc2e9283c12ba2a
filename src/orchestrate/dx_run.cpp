#include "orchestrate/dx_run.h"

#include <fmt/format.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "analysis/dx_error.h"
#include "core/bounded_json.h"
#include "orchestrate/process.h"
#include "orchestrate/thread_env.h"
#include "orchestrate/trial_monitor.h"

namespace fwbench {

namespace {

constexpr std::size_t kMaxErrorText = 4 << 20;  // a longer error file is measured up to here

std::string ReadPrefix(const std::filesystem::path& path, std::size_t limit) {
  std::ifstream in(path, std::ios::binary);
  std::string text(limit, '\0');
  in.read(text.data(), static_cast<std::streamsize>(limit));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return text;
}

}  // namespace

std::vector<std::string> DxCommand(const BuiltinBackend& backend,
                                   const std::filesystem::path& self_exe,
                                   const std::filesystem::path& request) {
  if (backend.name == kLibtorchBackend) return {self_exe.string(), "dx-case", request.string()};
  const std::vector<std::string>& c = backend.command;
  if (c.size() < 3) throw std::logic_error("no worker command for " + backend.name);
  return {c[0], c[1], "--dx", c[2], request.string()};
}

std::vector<std::string> DxDefaultModes(const BuiltinBackend& backend) {
  // LibTorch's dx port is eager C++; its other modes compile the same C++ model.
  if (backend.name == kLibtorchBackend) return {"eager"};
  if (!backend.auto_modes.empty()) return backend.auto_modes;
  return {backend.modes.front()};
}

std::string DxNotApplicable(const BuiltinBackend& backend, const DxFault& fault,
                            const DxOptions& options) {
  const bool trains = backend.RunsTask("train");
  if (fault.exports && !trains) return "a runtime: it exports nothing";
  if (fault.training && !trains) return "a runtime: it runs a model file, it does not train one";
  if (backend.needs_onnx && options.onnx_model.empty()) return options.onnx_missing;
  return "";
}

nlohmann::json RunDxCase(const BuiltinBackend& backend, const std::string& mode,
                         const DxFault& fault, const DxOptions& options) {
  nlohmann::json record = {{"backend", backend.name},
                           {"mode", mode},
                           {"fault", fault.name},
                           {"trains", backend.RunsTask("train")}};
  if (const std::string why = DxNotApplicable(backend, fault, options); !why.empty()) {
    record["outcome"] = "n/a";
    record["detail"] = why;
    return record;
  }
  const std::filesystem::path dir =
      options.out_dir / "cases" / fmt::format("{}_{}_{}", backend.name, mode, fault.name);
  std::filesystem::create_directories(dir);
  const std::filesystem::path error_file = std::filesystem::absolute(dir / "error.txt");
  std::filesystem::remove(error_file);
  const DxRequest request{fault.name, mode, options.threads, error_file, options.onnx_model};
  const std::filesystem::path request_file = dir / "request.json";
  std::ofstream(request_file) << ToJson(request).dump(2) << "\n";

  ProcessOptions p;
  p.argv = DxCommand(backend, options.self_exe, std::filesystem::absolute(request_file));
  p.env = TrialThreadEnvironment(options.threads);
  p.stderr_path = dir / "stderr.log";
  p.timeout_s = options.timeout_s;
  nlohmann::json hello = nlohmann::json::object(), end, usage_error, pools;
  std::optional<std::int64_t> t_start;
  int steps = 0;
  const ProcessResult r = RunProcess(p, [&](std::string_view line) {
    const nlohmann::json e = ParseJsonOrDiscard(line);
    const std::string kind = e.is_object() && e.contains("event") && e["event"].is_string()
                                 ? e["event"].get<std::string>()
                                 : "";
    if (kind == "dx_hello") hello = e;
    if (kind == "dx_start" && e.contains("t") && e["t"].is_number_integer()) {
      t_start = e["t"].get<std::int64_t>();
      if (e.contains("pools")) pools = e["pools"];
    }
    if (kind == "dx_step") ++steps;
    if (kind == "dx_end") end = e;
    if (kind == "error") usage_error = e;
    return true;
  });
  for (const char* field : {"framework", "version", "language", "threads", "port_file"}) {
    if (hello.contains(field)) record[field] = hello[field];
  }
  // The pools the port set and read back, where its framework reports them.
  if (!pools.is_null()) record["pools"] = pools;
  record["steps"] = steps;
  record["error_file"] = std::filesystem::relative(error_file, options.out_dir).string();
  if (end.is_object()) {
    record["outcome"] = end.value("outcome", "?");
    for (const char* field : {"reason", "note", "message"}) {
      if (end.contains(field) && end[field].is_string()) record["detail"] = end[field];
    }
    if (end.contains("exception")) record["exception"] = end["exception"];
    if (t_start && end.contains("t") && end["t"].is_number_integer()) {
      record["seconds"] = static_cast<double>(end["t"].get<std::int64_t>() - *t_start) * 1e-9;
    }
  } else if (r.timed_out) {
    record["outcome"] = "hang";
    record["detail"] = fmt::format("no end after {:.0f} s (killed)", options.timeout_s);
  } else {
    // The port itself failed outside the fault (an unusable request, a framework that does not
    // import: fwbench's problem, not a finding), or the process died.
    record["outcome"] = usage_error.is_object() ? "failed" : "crash";
    record["detail"] =
        usage_error.is_object()
            ? usage_error.value("message", "")
            : fmt::format("{} without dx_end: {}",
                          r.term_signal != 0 ? DescribeSignal(r.term_signal)
                                             : fmt::format("exit code {}", r.exit_code),
                          r.started ? StderrTail(p.stderr_path) : r.start_error);
  }
  const std::string text = ReadPrefix(error_file, kMaxErrorText);
  const std::size_t offset =
      end.is_object() && end.contains("error_offset") && end["error_offset"].is_number_unsigned()
          ? end["error_offset"].get<std::size_t>()
          : 0;
  const ErrorTextStats s =
      MeasureErrorText(text, fault.culprit_pattern, hello.value("port_file", std::string()), offset,
                       end.is_object() ? end.value("exception", std::string()) : "");
  record["lines"] = s.lines;
  record["characters"] = s.characters;
  record["frames"] = s.frames;
  record["headline"] = s.headline;
  record["names_culprit"] = s.names_culprit;
  record["trace_names_culprit"] = s.trace_names_culprit;
  record["names_port_line"] = s.names_port_line;
  return record;
}

std::string WriteDxOnnxModel(const std::vector<BuiltinBackend>& workers,
                             const std::filesystem::path& out) {
  std::string tried;
  for (const char* name : {"onnxruntime", "opencv-dnn"}) {
    for (const BuiltinBackend& w : workers) {
      if (w.name != name || !w.Available() || !w.python || w.command.size() < 2) continue;
      try {
        const nlohmann::json answer =
            RunWorkerCommand({w.command[0], w.command[1], "--dx-onnx", out.string()},
                             out.string() + ".log", 300.0, "the dx model's ONNX export");
        if (answer.value("ok", false) && std::filesystem::is_regular_file(out)) return "";
        tried += fmt::format("{}{}: {}", tried.empty() ? "" : "; ", name,
                             answer.value("reason", std::string("no file written")));
      } catch (const std::exception& e) {
        tried += fmt::format("{}{}: {}", tried.empty() ? "" : "; ", name, e.what());
      }
    }
  }
  return "no dx model in ONNX: it is written with the onnx package by the onnxruntime or "
         "opencv-dnn worker's Python" +
         (tried.empty() ? std::string(", and neither runs here") : " (" + tried + ")");
}

}  // namespace fwbench
