#pragma once
// The user's own model (workload user_model, docs/your-model.md): which runtime is its
// reference, what inputs it takes (as that runtime reads them, completed by the plan's --input
// declarations) and the input rows every backend feeds it, generated once from the seed.
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/trial_spec.h"
#include "orchestrate/builtin_workers.h"
#include "orchestrate/plan.h"
#include "orchestrate/run_plan.h"

namespace fwbench::pipeline {

// The model file's format from its name: "onnx" for .onnx. UsageError naming the file for a
// missing file or a format this fwbench does not load yet.
std::string UserModelFormat(const std::filesystem::path& file);
// The plan's model: "pytorch_module" for model.py, else the file's format.
std::string UserModelFormat(const Plan& plan);
// The model as messages name it: the file, or the module's "pkg.mod:factory".
std::string UserModelName(const Plan& plan);

// The backend whose own runtime reads the format: the parity gate's reference.
std::string UserModelReference(const std::string& format);

// One --input declaration: "NAME:DTYPE:DIMS[:LO-HI]", DIMS with the batch first ("N" or a
// number), e.g. "ids:INT64:Nx128:0-30522".
struct InputDeclaration {
  std::string name;
  std::string dtype;               // numpy's name: float32, int64, int32
  std::vector<std::int64_t> dims;  // -1 for "N" / "?"
  double low = 0.0, high = 0.0;    // the values' range; high <= low: the dtype's default
};
InputDeclaration ParseInputDeclaration(const std::string& text);

// The model's inputs, one row each (batch dimension left out), from `described` (a worker's
// --describe-model answer) and the plan's declarations. UsageError naming the file and the input
// for a declaration of an input the model does not have, a dtype or dimension that disagrees
// with the model, a dimension the model leaves open and the plan does not set, a fixed batch
// dimension that the plan's batch sizes do not match, or a dtype fwbench cannot generate.
std::vector<UserModelInput> ResolveUserModelInputs(const std::filesystem::path& file,
                                                   const nlohmann::json& described,
                                                   const std::vector<std::string>& declared,
                                                   const std::vector<std::int64_t>& batch_sizes);

// Writes `rows` rows of every input to `path` (.safetensors): floats uniform in [-1, 1) (or the
// declared range), integers uniform in [0, 100) (or the declared range), from `seed`.
void WriteUserModelRows(const std::filesystem::path& path,
                        const std::vector<UserModelInput>& inputs,
                        const std::vector<std::string>& declared, std::uint64_t seed,
                        std::int64_t rows);

// The model as every runtime of a run takes it: its spec (format, file or module, the resolved
// inputs and the rows file under <out>/cache), what its reference runtime described, and the key
// that names its conversions in the cache.
struct ResolvedUserModel {
  UserModelSpec spec;
  nlohmann::json described;
  std::string reference;
  std::string key;
  std::int64_t rows = 0;
};
// Format, reference worker (it must be available here), description, inputs and rows.
ResolvedUserModel ResolveUserModel(const Plan& plan, const std::vector<BuiltinBackend>& workers,
                                   std::ostream& log);

// One conversion of the model to another format, made by the worker that owns the converter.
struct Conversion {
  bool ok = false;
  UserModelSpec spec;
  std::string converter;                             // with its version
  std::string reason;                                // why it failed
  nlohmann::json outputs = nlohmann::json::array();  // what it returns, where the converter says
  double seconds = 0.0;
};
// The conversion of `model` to `to` ("onnx", "torchscript"), or why there is none; `record` is
// its row of the portability matrix.
Conversion ConvertUserModel(const Plan& plan, const std::string& to, const ResolvedUserModel& model,
                            const std::vector<BuiltinBackend>& workers, nlohmann::json& record,
                            std::ostream& log);

// All of it for a run: format, reference worker (it must be available here), description,
// inputs and rows (under <out>/cache), into inputs.user_model / user_model_facts; then, for
// every worker that runs user models but not this format, the conversion that reaches it
// (inputs.user_model_by_backend), or why none does (the worker's model_refusal, which leaves
// its configurations out with that reason).
void PrepareUserModel(const Plan& plan, std::vector<BuiltinBackend>& workers, RunInputs& inputs,
                      std::ostream& log);

}  // namespace fwbench::pipeline
