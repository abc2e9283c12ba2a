#pragma once
// The model behind one version of a repository model, by the platform its config.toml names:
// what `fwbench serve` loads and what bench/serve_vs_inprocess.sh times in-process.
#include <filesystem>
#include <memory>
#include <string>

#include "serve/model_config.h"
#include "serve/served_model.h"

namespace fwbench {

// "torchscript" (LibTorch), "aoti" (LibTorch's AOTInductor loader) or "onnx" (OpenCV DNN).
// Throws UsageError naming the file when its runtime cannot load it.
std::shared_ptr<serve::ServedModel> LoadServedModel(const std::filesystem::path& file,
                                                    const serve::ModelConfig& config,
                                                    const std::string& device);

}  // namespace fwbench
