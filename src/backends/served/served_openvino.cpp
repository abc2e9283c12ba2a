// ONNX models behind fwbench serve through OpenVINO (served_onnx.h), and the choice of runtime.
#include <fmt/format.h>

#include <opencv2/core.hpp>

#include <iostream>

#include "backends/served/batch_rows.h"
#include "backends/served/served_onnx.h"
#include "core/error.h"

#ifdef FWBENCH_HAVE_OPENVINO
#include <openvino/openvino.hpp>
#endif

namespace fwbench {

#ifdef FWBENCH_HAVE_OPENVINO
namespace {

class OpenVinoModel final : public serve::ServedModel {
 public:
  OpenVinoModel(ov::CompiledModel compiled, serve::ModelConfig config)
      : compiled_(std::move(compiled)),
        request_(compiled_.create_infer_request()),
        config_(std::move(config)) {}

  std::vector<std::vector<serve::OutputTensor>> RunBatch(
      const std::vector<const serve::InferRequest*>& requests) override {
    // The batches own the values the tensors borrow until infer() returns.
    std::vector<BatchedInput<float>> fp32;
    std::vector<BatchedInput<std::int64_t>> int64;
    fp32.reserve(config_.signature.inputs.size());
    int64.reserve(config_.signature.inputs.size());
    for (std::size_t i = 0; i < config_.signature.inputs.size(); ++i) {
      const auto& s = config_.signature.inputs[i];
      if (s.datatype == "INT64") {
        auto& b = int64.emplace_back(ConcatRows<std::int64_t>(requests, i));
        request_.set_tensor(s.name, ov::Tensor(ov::element::i64, ShapeOf(b.shape), b.data()));
      } else {
        auto& b = fp32.emplace_back(ConcatRows<float>(requests, i));
        request_.set_tensor(s.name, ov::Tensor(ov::element::f32, ShapeOf(b.shape), b.data()));
      }
    }
    request_.infer();
    std::vector<std::vector<serve::OutputTensor>> per_request(requests.size());
    for (std::size_t o = 0; o < config_.signature.outputs.size(); ++o) {
      const ov::Tensor out = request_.get_output_tensor(o);
      if (out.get_element_type() != ov::element::f32) {
        throw std::runtime_error(
            fmt::format("output {} is {}, not FP32", o, out.get_element_type().get_type_name()));
      }
      const ov::Shape& shape = out.get_shape();
      SplitRows(requests, config_.signature.outputs[o].name,
                std::vector<std::int64_t>(shape.begin(), shape.end()), out.data<float>(),
                per_request);
    }
    return per_request;
  }

 private:
  static ov::Shape ShapeOf(const std::vector<std::int64_t>& shape) {
    return ov::Shape(shape.begin(), shape.end());
  }

  ov::CompiledModel compiled_;
  ov::InferRequest request_;
  serve::ModelConfig config_;
};

}  // namespace

std::shared_ptr<serve::ServedModel> LoadServedOnnxOpenVino(const std::filesystem::path& file,
                                                           const serve::ModelConfig& config,
                                                           const std::string& device) {
  if (device != "cpu") {
    throw UsageError(
        fmt::format("{}: ONNX models are served on the CPU only (--device {} was asked)",
                    file.string(), device));
  }
  static ov::Core core;
  try {
    std::shared_ptr<ov::Model> model = core.read_model(file.string());
    std::map<std::string, ov::PartialShape> shapes;
    for (const auto& in : config.signature.inputs) {
      ov::PartialShape shape;
      for (const auto d : in.shape) {
        shape.push_back(d < 0 ? ov::Dimension::dynamic() : ov::Dimension(d));
      }
      shapes[in.name] = shape;
    }
    model->reshape(shapes);
    if (model->outputs().size() != config.signature.outputs.size()) {
      throw UsageError(fmt::format("{}: the model has {} outputs; {} lists {} ([[outputs]])",
                                   file.string(), model->outputs().size(), config.source.string(),
                                   config.signature.outputs.size()));
    }
    const int threads = cv::getNumThreads();
    ov::CompiledModel compiled =
        core.compile_model(model, "CPU", ov::inference_num_threads(threads),
                           ov::hint::inference_precision(ov::element::f32),
                           ov::hint::performance_mode(ov::hint::PerformanceMode::LATENCY));
    std::cerr << fmt::format("serve: {} runs on OpenVINO {} (CPU, FP32, {} threads)\n",
                             file.string(), ov::get_openvino_version().buildNumber,
                             compiled.get_property(ov::inference_num_threads));
    return std::make_shared<OpenVinoModel>(std::move(compiled), config);
  } catch (const ov::Exception& e) {
    throw UsageError(fmt::format("{}: OpenVINO cannot serve this ONNX file as {} describes it: {}",
                                 file.string(), config.source.string(),
                                 std::string(e.what()).substr(0, 600)));
  }
}
#else
std::shared_ptr<serve::ServedModel> LoadServedOnnxOpenVino(const std::filesystem::path& file,
                                                           const serve::ModelConfig& config,
                                                           const std::string& /*device*/) {
  throw UsageError(fmt::format(
      "{}: onnx_runtime = \"openvino\", but this fwbench was built without OpenVINO (it takes it "
      "from .venvs/openvino: run scripts/install-deps.sh, then build again), or set "
      "onnx_runtime = \"opencv\" (OpenCV DNN)",
      file.string(), config.source.string()));
}
#endif

std::string DefaultOnnxRuntime() {
#ifdef FWBENCH_HAVE_OPENVINO
  return "openvino";
#else
  return "opencv";
#endif
}

std::shared_ptr<serve::ServedModel> LoadServedOnnx(const std::filesystem::path& file,
                                                   const serve::ModelConfig& config,
                                                   const std::string& device) {
  const std::string runtime =
      config.onnx_runtime.empty() ? DefaultOnnxRuntime() : config.onnx_runtime;
  if (runtime == "opencv") return LoadServedOnnxOpenCv(file, config, device);
  return LoadServedOnnxOpenVino(file, config, device);
}

}  // namespace fwbench
