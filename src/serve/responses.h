#pragma once
// Response bodies of the server's protocols (issue 7): predictions and errors as each client
// library expects them.
//   KServe v2:  {"model_name", "model_version", "id", "outputs": [{"name", "datatype", "shape",
//               "data"}]}; errors {"error": message}
//   TF Serving: {"predictions": [one entry per batch item]} (a single output: its rows; several:
//               an object per row); errors {"error": message}
//   TorchServe: the predictions (a single output: its rows); errors {"code", "type", "message"}
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "serve/tensor_values.h"

namespace fwbench::serve {

struct OutputTensor {
  std::string name;
  std::vector<std::int64_t> shape;  // batch first
  TensorValues<float> fp32;         // a view of the model's own output where it can be
};

enum class Protocol { kKserveV2, kTfServing, kTorchServe };

std::string KserveV2Response(const std::string& model, const std::string& version,
                             const std::string& id, const std::vector<OutputTensor>& outputs);
// Row format: one prediction per batch item; throws std::invalid_argument when the outputs'
// batch sizes differ or a tensor has no batch dimension.
// The binary tensor extension's answer: the JSON header (outputs carry
// parameters.binary_data_size, no "data"; its length goes into the Inference-Header-Content-Length
// header) followed by the raw FP32 outputs, which are sent as they lie in `outputs` (views of
// them, valid while they are), not copied into the body.
struct BinaryBody {
  std::string json;
  std::vector<std::string_view> tensors;
};
BinaryBody KserveV2BinaryResponse(const std::string& model, const std::string& version,
                                  const std::string& id, const std::vector<OutputTensor>& outputs);
std::string TfServingResponse(const std::vector<OutputTensor>& outputs);
std::string TorchServeResponse(const std::vector<OutputTensor>& outputs);

std::string ErrorBody(Protocol protocol, int status, const std::string& message);

}  // namespace fwbench::serve
