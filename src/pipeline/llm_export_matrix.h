#pragma once
// `fwbench llm-export`: the export portability matrix of a fine-tuned LLM (docs/llm.md, "Export
// portability"). The adapters a training trial of an llm_lora run saved are merged into the
// checkpoint; each converter exports the merged model's generation step; each runtime that can
// load a file generates greedily from the run's first prompt; every row is compared with the
// C++ model on the merged checkpoint (LibTorch eager fp32): the prefill logits within the parity
// gate's fp32 tolerance, the generated tokens equal, and prefill/decode tokens/s.
#include <filesystem>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "orchestrate/builtin_workers.h"

namespace fwbench::pipeline {

struct LlmExportOptions {
  std::filesystem::path run_dir;
  std::string from;  // the training configuration whose adapters are merged; "" = the first
  std::int64_t new_tokens = 32;
  int threads = 1;
  int repeats = 3;
  std::vector<std::string> exports;  // export ids to run; empty = all
};

// The export ids, in matrix order: onnx-dynamo, aoti, torchscript, savedmodel, tf2onnx,
// savedmodel-port, tf2onnx-port (the Keras step without the changes tf2onnx needs).
std::vector<std::string> LlmExportIds();

// Throws UsageError naming the first id in `exports` that is not one of them.
void CheckLlmExportIds(const std::vector<std::string>& exports);

// The workers `exports` need (converters and runtimes; empty = every export), to probe.
std::set<std::string> LlmExportWorkers(const std::vector<std::string>& exports);

// Runs the matrix and writes run_dir/export/matrix.json (again after every row, so that an
// interrupted matrix keeps what it measured). Throws UsageError for a run folder that is not a
// finished llm_lora run with a saved adapter, or an unknown --from / export id.
nlohmann::json RunLlmExportMatrix(const LlmExportOptions& options,
                                  const std::vector<BuiltinBackend>& workers,
                                  const std::filesystem::path& self_exe, std::ostream& log);

}  // namespace fwbench::pipeline
