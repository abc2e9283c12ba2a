#pragma once
// A model repository folder, laid out as Triton and TF Serving do:
//   REPO/NAME/config.toml       inputs, outputs, batching (see model_config.h)
//   REPO/NAME/1/model.pt        version 1 (TorchScript; model.onnx for platform "onnx")
//   REPO/NAME/2/model.pt        version 2 …; the highest number is the latest
#include <filesystem>
#include <string>
#include <vector>

#include "serve/model_config.h"

namespace fwbench::serve {

struct RepositoryVersion {
  std::string version;  // decimal, as the folder is named
  std::filesystem::path file;
};

struct RepositoryModel {
  std::string name;
  ModelConfig config;
  std::vector<RepositoryVersion> versions;  // ascending
};

// Throws UsageError (naming the folder or file and what is wrong) when the repository is missing,
// empty, or a model lacks its config or a numbered version with a model file.
std::vector<RepositoryModel> ScanRepository(const std::filesystem::path& root);

}  // namespace fwbench::serve
