#pragma once
// A TorchScript file behind the inference server: inputs concatenated along the batch dimension,
// one forward under inference mode, outputs split back per request.
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

}  // namespace fwbench
