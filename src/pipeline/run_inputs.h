#pragma once
// What every trial of a run (or of `fwbench worker-check`) reads, prepared once up front: the
// data set, the initial weights, their ONNX export, and the built-in workers found here.
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "orchestrate/builtin_workers.h"
#include "orchestrate/plan.h"
#include "orchestrate/run_plan.h"

namespace fwbench::pipeline {

// The user's CIFAR-10 folder (validated up front, so a truncated file is a usage error before
// any trial runs) or the embedded synthetic set, generated once under <out>/cache.
std::filesystem::path PrepareData(const Plan& plan);
// The LLM workload's checkpoint, initial adapters and token file (inputs.weights, .tokens,
// .adapter_init, .llm_facts), made once under <out>/cache or checked when the user's.
void PrepareLlm(const Plan& plan, RunInputs& inputs);
// The user's weights (checked against the model) or weights generated from the plan's seed.
std::filesystem::path PrepareWeights(const Plan& plan);
// The ONNX export of `weights`, made once next to it with the PyTorch worker.
// `raw`: the exporter's graph as is (a separate cached file).
std::filesystem::path PrepareOnnx(const Plan& plan, const std::filesystem::path& weights,
                                  const std::vector<BuiltinBackend>& builtins, bool raw = false);
// Probes the built-in workers when the plan uses any (printing what was found to stderr).
std::vector<BuiltinBackend> DetectWorkers(const Plan& plan, const std::filesystem::path& self);
// The boilerplate metric: lines of code of each backend's port of the workload.
nlohmann::json PortSizes(const std::vector<Configuration>& configs,
                         const std::vector<BuiltinBackend>& builtins, const std::string& workload);

}  // namespace fwbench::pipeline
