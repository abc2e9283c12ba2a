#include "backends/served/served_onnx.h"

#include <fmt/format.h>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <algorithm>
#include <limits>

#include "backends/served/batch_rows.h"
#include "core/error.h"

namespace fwbench {

namespace {

class OnnxModel final : public serve::ServedModel {
 public:
  OnnxModel(cv::dnn::Net net, serve::ModelConfig config)
      : net_(std::move(net)), config_(std::move(config)) {
    out_names_ = net_.getUnconnectedOutLayersNames();
  }

  std::vector<std::vector<serve::OutputTensor>> RunBatch(
      const std::vector<const serve::InferRequest*>& requests) override {
    for (std::size_t i = 0; i < config_.signature.inputs.size(); ++i) {
      BatchedInput<float> b = ConcatRows<float>(requests, i);
      std::vector<int> shape;
      for (const auto d : b.shape) {
        if (d > std::numeric_limits<int>::max()) {
          throw std::runtime_error("a dimension beyond OpenCV's int range");
        }
        shape.push_back(static_cast<int>(d));
      }
      // setInput copies the blob, so the Mat may borrow the values.
      const cv::Mat blob(static_cast<int>(shape.size()), shape.data(), CV_32F, b.data());
      net_.setInput(blob, config_.signature.inputs[i].name);
    }
    std::vector<cv::Mat> outs;
    net_.forward(outs, out_names_);
    if (outs.size() != config_.signature.outputs.size()) {
      throw std::runtime_error(fmt::format("the network has {} outputs; config.toml lists {}",
                                           outs.size(), config_.signature.outputs.size()));
    }
    std::vector<std::vector<serve::OutputTensor>> per_request(requests.size());
    for (std::size_t o = 0; o < outs.size(); ++o) {
      const cv::Mat out = outs[o].isContinuous() ? outs[o] : outs[o].clone();
      std::vector<std::int64_t> shape;
      for (int d = 0; d < out.dims; ++d) shape.push_back(out.size[d]);
      SplitRows(requests, config_.signature.outputs[o].name, shape, out.ptr<float>(), per_request);
    }
    return per_request;
  }

 private:
  cv::dnn::Net net_;
  serve::ModelConfig config_;
  std::vector<std::string> out_names_;
};

}  // namespace

std::shared_ptr<serve::ServedModel> LoadServedOnnxOpenCv(const std::filesystem::path& file,
                                                         const serve::ModelConfig& config,
                                                         const std::string& device) {
  if (device != "cpu") {
    throw UsageError(
        fmt::format("{}: ONNX models are served by OpenCV DNN on the CPU only "
                    "(--device {} was asked)",
                    file.string(), device));
  }
  for (const auto& in : config.signature.inputs) {
    if (in.datatype != "FP32") {
      throw UsageError(fmt::format("{}: input '{}' is {}; OpenCV DNN serves FP32 inputs only",
                                   file.string(), in.name, in.datatype));
    }
  }
  cv::dnn::Net net;
  try {
    net = cv::dnn::readNetFromONNX(file.string());
  } catch (const cv::Exception& e) {
    throw UsageError(fmt::format("{}: OpenCV DNN cannot import this ONNX file: {}", file.string(),
                                 std::string(e.what()).substr(0, 400)));
  }
  if (net.empty()) {
    throw UsageError(fmt::format("{}: OpenCV DNN read no network from it", file.string()));
  }
  return std::make_shared<OnnxModel>(std::move(net), config);
}

}  // namespace fwbench
