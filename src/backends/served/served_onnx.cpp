#include "backends/served/served_onnx.h"

#include <fmt/format.h>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <algorithm>
#include <limits>

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
      std::vector<int> shape;
      std::vector<float> data;
      std::int64_t rows = 0;
      const std::vector<std::int64_t>& first = requests[0]->inputs.at(i).shape;
      for (const auto* r : requests) {
        const serve::InputTensor& t = r->inputs.at(i);
        // Rows of one batch must agree past the batch dimension (a signature with -1 there
        // lets requests differ), and OpenCV takes int dimensions.
        if (!std::equal(t.shape.begin() + 1, t.shape.end(), first.begin() + 1, first.end())) {
          throw std::runtime_error(fmt::format(
              "input '{}': requests of different shapes past the batch dimension cannot share "
              "a batch (set max_batch_size = 1 for this model)",
              t.name));
        }
        rows += t.shape[0];
        data.insert(data.end(), t.fp32.begin(), t.fp32.end());
      }
      std::int64_t per_row = 1;
      for (std::size_t d = 1; d < first.size(); ++d) per_row *= first[d];
      const std::int64_t int_max = std::numeric_limits<int>::max();
      if (rows > int_max || per_row * rows != static_cast<std::int64_t>(data.size())) {
        throw std::runtime_error(fmt::format("input '{}': {} values do not fill {} rows",
                                             config_.signature.inputs[i].name, data.size(), rows));
      }
      for (const auto d : first) {
        if (d > int_max) throw std::runtime_error("a dimension beyond OpenCV's int range");
        shape.push_back(static_cast<int>(d));
      }
      shape[0] = static_cast<int>(rows);
      // setInput copies the blob, so the Mat may borrow `data`.
      const cv::Mat blob(static_cast<int>(shape.size()), shape.data(), CV_32F, data.data());
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
      const auto* values = out.ptr<float>();
      const std::int64_t per_row =
          shape.empty() || shape[0] == 0 ? 0 : static_cast<std::int64_t>(out.total()) / shape[0];
      std::int64_t row = 0;
      for (std::size_t r = 0; r < requests.size(); ++r) {
        const std::int64_t rows = requests[r]->BatchSize();
        serve::OutputTensor t;
        t.name = config_.signature.outputs[o].name;
        t.shape = shape;
        t.shape[0] = rows;
        t.fp32.assign(values + row * per_row, values + (row + rows) * per_row);
        row += rows;
        per_request[r].push_back(std::move(t));
      }
      if (shape.empty() || row != shape[0]) {
        throw std::runtime_error(fmt::format("output '{}' does not have a row per input row",
                                             config_.signature.outputs[o].name));
      }
    }
    return per_request;
  }

 private:
  cv::dnn::Net net_;
  serve::ModelConfig config_;
  std::vector<std::string> out_names_;
};

}  // namespace

std::shared_ptr<serve::ServedModel> LoadServedOnnx(const std::filesystem::path& file,
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
