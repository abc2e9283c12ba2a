#pragma once
// `fwbench dx` (docs/dx.md): each injected fault in each framework's dx port, one fresh process
// per case, and what the framework said, measured (analysis/dx_error).
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dx_request.h"
#include "orchestrate/builtin_workers.h"

namespace fwbench {

struct DxOptions {
  std::filesystem::path out_dir;   // cases/<backend>_<mode>_<fault>/ go here
  std::filesystem::path self_exe;  // runs LibTorch's port: `fwbench dx-case REQUEST`
  int threads = 1;
  double timeout_s = 180.0;  // a case past it is a hang
  // The dx model in ONNX for the inference runtimes; when empty, `onnx_missing` says why.
  std::filesystem::path onnx_model;
  std::string onnx_missing;
};

// The command that runs `backend`'s dx port on `request`: LibTorch's is `self_exe dx-case`,
// a worker's is its program with `--dx FRAMEWORK REQUEST` (workers/python, workers/node).
std::vector<std::string> DxCommand(const BuiltinBackend& backend,
                                   const std::filesystem::path& self_exe,
                                   const std::filesystem::path& request);

// The modes `fwbench dx` runs for a backend named without one: its default modes (LibTorch:
// eager, the mode its dx port runs), else its first.
std::vector<std::string> DxDefaultModes(const BuiltinBackend& backend);

// Why `backend` has no case for `fault` without asking it (an inference runtime trains and
// exports nothing; a runtime without the ONNX model), or "".
std::string DxNotApplicable(const BuiltinBackend& backend, const DxFault& fault,
                            const DxOptions& options);

// Runs one case and returns its record (an element of dx.json's "cases", docs/dx.md):
// backend, mode, fault, the port's framework and version, outcome (error: the framework
// raised; loop: the loss stopped being finite and only fwbench's loop said so; silent; n/a;
// crash; hang), steps and seconds until the end, and the error text's measures.
nlohmann::json RunDxCase(const BuiltinBackend& backend, const std::string& mode,
                         const DxFault& fault, const DxOptions& options);

// Writes the dx model in ONNX to `out` with the first available worker among `workers` whose
// Python has the onnx package (onnxruntime's, opencv-dnn's). Returns "" or why it could not.
std::string WriteDxOnnxModel(const std::vector<BuiltinBackend>& workers,
                             const std::filesystem::path& out);

}  // namespace fwbench
