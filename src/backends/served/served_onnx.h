#pragma once
// An ONNX file behind the inference server, run by OpenVINO (the C++ runtime of the PyPI wheel in
// .venvs/openvino, where fwbench was built with it) or by OpenCV DNN (Debian's libopencv-dnn):
// inputs concatenated along the batch dimension, one inference, outputs split back per request.
#include <filesystem>
#include <memory>
#include <string>

#include "serve/model_config.h"
#include "serve/served_model.h"

namespace fwbench {

// The runtime config.onnx_runtime names; by default OpenVINO where fwbench was built with it,
// else OpenCV DNN. Throws UsageError naming the file when the runtime cannot import it (an
// operator OpenCV DNN lacks, say), when the config asks for something it cannot serve (INT64
// inputs on OpenCV DNN, a device other than cpu), or for OpenVINO in a build without it.
std::shared_ptr<serve::ServedModel> LoadServedOnnx(const std::filesystem::path& file,
                                                   const serve::ModelConfig& config,
                                                   const std::string& device);

// "openvino" where fwbench was built with OpenVINO, else "opencv": what an ONNX model's config
// without onnx_runtime gets.
std::string DefaultOnnxRuntime();

// OpenCV DNN: FP32 inputs only.
std::shared_ptr<serve::ServedModel> LoadServedOnnxOpenCv(const std::filesystem::path& file,
                                                         const serve::ModelConfig& config,
                                                         const std::string& device);

// OpenVINO's CPU plugin at FP32 (its default on CPUs with AVX-512 BF16 is BF16, which changes the
// answers), as many threads as the process's compute pool (cv::getNumThreads(), which
// ConfigureServeThreads sets), the batch dimension dynamic. FP32 and INT64 inputs.
std::shared_ptr<serve::ServedModel> LoadServedOnnxOpenVino(const std::filesystem::path& file,
                                                           const serve::ModelConfig& config,
                                                           const std::string& device);

}  // namespace fwbench
