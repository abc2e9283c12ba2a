#pragma once
// What `fwbench deploy` serves and how each server gets it: the benchmark's own ResNet (exported
// to TorchScript) or the user's model (docs/your-model.md), made ready for fwbench serve (a model
// repository) and for the FastAPI + uvicorn baseline (its environment and settings).
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "loadgen/protocol_request.h"
#include "orchestrate/plan.h"

namespace fwbench::cli {

struct DeployArgs {
  std::int64_t image_size = 0;  // 0: 224 for the imagenet stem, 32 for cifar
  // Servers measured beside fwbench serve: fastapi, torchserve, tfserving (a row saying why it
  // is not run), or none.
  std::vector<std::string> baselines = {"fastapi", "torchserve", "tfserving"};
  std::string batching = "both";
  int max_batch_size = 8;
  int max_queue_delay_us = 5000;
  double p99_ms = 1000.0;
  double duration_s = 10.0;
  double warmup_s = 2.0;
  int connections = 8;
  double start_rate = 1.0;
  int bisection_steps = 4;
  int serve_threads = 0;  // every server's compute threads; 0: every core the process may use
  std::filesystem::path into;
};

// The FastAPI + uvicorn baseline's row in deploy.json.
inline constexpr char kBaselineName[] = "fastapi + uvicorn";

struct DeployTarget {
  std::string model_name;
  std::vector<loadgen::InputSpec> request_inputs;  // one request's inputs, batch 1
  // fwbench serve: the repository it serves, the steps that made it (the server's start is
  // added), or, when it cannot serve this model, why not.
  std::filesystem::path repository;
  std::vector<std::string> serve_steps;
  std::string serve_refusal;
  // The FastAPI baseline: the interpreter that runs tools/fastapi_baseline/app.py with the
  // model's framework, its settings, the steps before writing app.py; or why it cannot run.
  std::string baseline_python;
  std::vector<std::pair<std::string, std::string>> baseline_env;
  std::vector<std::string> baseline_steps;
  std::string baseline_refusal;
  // What deploy.json records about the model, and the first predictions' agreement bound
  // (|a - b| <= atol + rtol × |reference|, elementwise).
  nlohmann::json facts;
  std::string parity_reference;  // the server whose first prediction the others are checked
                                 // against; the first that answered when empty or absent
  double parity_atol = 1e-4;
  double parity_rtol = 0.0;
};

// The first interpreter among `candidates` that imports fastapi, uvicorn and `framework`, or
// "" and why none does (with `install_hint`).
std::pair<std::string, std::string> FindFastapiPython(const std::vector<std::string>& candidates,
                                                      const std::string& framework,
                                                      const std::filesystem::path& log_dir,
                                                      const std::string& install_hint);

// tools/RELATIVE beside the binary's folder (an installed tree), else in the source tree: the
// FastAPI app and the TorchServe handler the deploy's peers run.
std::filesystem::path ToolsFile(const std::filesystem::path& self,
                                const std::filesystem::path& relative);

// Non-comment lines of a file (the length of a config or app a user writes).
std::int64_t CountLines(const std::filesystem::path& file);

// The user's model (plan.model_file or plan.model_py) made ready for both servers under
// `run_dir`: fwbench serve gets TorchScript (a PyTorch module or .pt2 traced, a TorchScript file
// as is) or ONNX (an ONNX file as is, a .keras converted) with a config.toml signature from the
// model's resolved inputs; the baseline loads the file itself with its own framework.
DeployTarget PrepareUserModelDeploy(const Plan& plan, const DeployArgs& args,
                                    const std::filesystem::path& self,
                                    const std::filesystem::path& run_dir);

}  // namespace fwbench::cli
