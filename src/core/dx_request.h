#pragma once
// `fwbench dx` (docs/dx.md): the injected faults, and the request one dx case process reads
// (a framework's dx port: workers/python/fwbench_workers/dx_<framework>.py, workers/node's
// ports/dx_<framework>.js, LibTorch's backends/trial/libtorch_dx.cpp).
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fwbench {

struct DxFault {
  std::string name;  // "shape_mismatch"
  std::string what;  // the bug, in words
  // A regular expression (ECMAScript, case-insensitive) an error that points at the culprit
  // matches, and what that culprit is, in words.
  std::string culprit_pattern;
  std::string culprit;
  bool training = false;  // needs a framework that trains (an inference runtime has no case)
  bool exports = false;   // needs a framework that exports a model
};

// Every fault, in the order cases run and reports list them.
const std::vector<DxFault>& DxFaults();

// The fault called `name`; UsageError naming the faults there are.
const DxFault& DxFaultNamed(const std::string& name);

struct DxRequest {
  std::string fault;
  std::string mode;
  int threads = 1;
  std::filesystem::path error_file;  // where the framework's words go during the fault
  std::filesystem::path onnx_model;  // the dx model in ONNX, for the runtimes ("" otherwise)
};

nlohmann::json ToJson(const DxRequest& request);

// UsageError naming `path` and the field that is missing or wrong.
DxRequest ReadDxRequest(const std::filesystem::path& path);

}  // namespace fwbench
