#include "pipeline/libtorch_backend.h"

#include "backends/trial/libtorch_llm_trial.h"
#include "backends/trial/libtorch_trial.h"
#include "core/trial_spec.h"

namespace fwbench::pipeline {

BuiltinBackend LibtorchBackend(const std::filesystem::path& self_exe,
                               const std::vector<BuiltinBackend>& workers) {
  BuiltinBackend b = LibtorchCatalogueEntry(
      self_exe, workers,
      [](const std::string& workload, const std::string& mode, const std::string& task,
         const std::string& precision, const std::string& memory_format) {
        return workload == kWorkloadLlm
                   ? LibtorchLlmUnsupportedReason(mode, task, precision)
                   : LibtorchUnsupportedReason(mode, task, precision, memory_format);
      });
  // No torchvision or transformers in C++: the model itself is part of the port.
  const std::filesystem::path src = std::filesystem::path(FWBENCH_SOURCE_DIR) / "src";
  b.port_files = {src / "models/resnet.h",
                  src / "models/resnet.cpp",
                  src / "workloads/image_classification.h",
                  src / "workloads/image_classification.cpp",
                  src / "backends/trial/libtorch_trial.cpp",
                  src / "backends/trial/torchscript_compile.cpp"};
  b.workload_port_files[std::string(kWorkloadLlm)] = {
      src / "models/llama.h",
      src / "models/llama.cpp",
      src / "models/llama_checkpoint.cpp",
      src / "workloads/llm_lora.h",
      src / "workloads/llm_lora.cpp",
      src / "backends/trial/libtorch_llm_trial.cpp"};
  return b;
}

}  // namespace fwbench::pipeline
