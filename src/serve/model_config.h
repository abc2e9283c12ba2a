#pragma once
// A served model's config.toml: its inputs and outputs (what requests are checked against) and
// its dynamic-batching policy. TorchScript files carry no signature, so, as Triton's
// config.pbtxt does, the repository states it.
#include <filesystem>
#include <string>

#include "serve/batch_queue.h"
#include "serve/infer_request.h"

namespace fwbench::serve {

struct ModelConfig {
  std::string platform = "torchscript";  // or "aoti", "onnx"
  // platform "onnx": "openvino" or "opencv" (OpenCV DNN); empty: OpenVINO where fwbench was
  // built with it, else OpenCV DNN.
  std::string onnx_runtime;
  ModelSignature signature;
  BatchPolicy batching;
  std::filesystem::path source;  // the config.toml it was read from; empty when built in code
};

// Reads `path` (NAME/config.toml) for the model `name`. Throws UsageError naming the file and
// the field, what was expected and an example, for anything missing or malformed.
ModelConfig ReadModelConfig(const std::filesystem::path& path, const std::string& name);

// The config.toml text for a signature and policy (what `fwbench deploy` writes).
std::string ModelConfigToml(const ModelConfig& config);

// The file each version folder holds for a platform: model.pt (torchscript), model.pt2 (aoti),
// model.onnx (onnx).
const char* ModelFileName(const std::string& platform);

}  // namespace fwbench::serve
