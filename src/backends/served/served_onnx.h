#pragma once
// An ONNX file behind the inference server, run by OpenCV DNN (Debian's libopencv-dnn): inputs
// concatenated along the batch dimension, one forward, outputs split back per request. FP32 only.
#include <filesystem>
#include <memory>
#include <string>

#include "serve/model_config.h"
#include "serve/served_model.h"

namespace fwbench {

// Throws UsageError naming the file when OpenCV DNN cannot import it (an operator it lacks, say)
// or when the config asks for something it cannot serve (INT64 inputs, a device other than cpu).
std::shared_ptr<serve::ServedModel> LoadServedOnnx(const std::filesystem::path& file,
                                                   const serve::ModelConfig& config,
                                                   const std::string& device);

}  // namespace fwbench
