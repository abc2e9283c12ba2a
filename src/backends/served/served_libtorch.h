#pragma once
// LibTorch models behind the inference server, a TorchScript file or an AOTInductor package
// (.pt2): inputs concatenated along the batch dimension, one forward under inference mode,
// outputs split back per request.
#include <filesystem>
#include <memory>
#include <string>

#include "serve/model_config.h"
#include "serve/served_model.h"

namespace fwbench {

// Loads `file` onto `device` ("cpu" or "cuda"). Throws UsageError naming the file when it is not
// a TorchScript archive.
std::shared_ptr<serve::ServedModel> LoadServedTorchScript(const std::filesystem::path& file,
                                                          const serve::ModelConfig& config,
                                                          const std::string& device);

// Loads an AOTInductor package (torch._inductor.aoti_compile_and_package; the one a
// libtorch/aoti trial saves) for the CPU. Throws UsageError naming the file when this LibTorch
// cannot load it (LibTorch before 2.6, another PyTorch version's package, not a package).
std::shared_ptr<serve::ServedModel> LoadServedAotiPackage(const std::filesystem::path& file,
                                                          const serve::ModelConfig& config,
                                                          const std::string& device);

}  // namespace fwbench
