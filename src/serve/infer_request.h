#pragma once
// Inference requests as the server's protocols carry them, parsed and checked against the
// model's signature before anything runs (issue 7). Every rejection is a RequestError with the
// HTTP status and a message that lists what the model expects — inputs, shapes, datatypes — the
// part TF Serving's errors leave out.
//
//   KServe Open Inference Protocol v2: {"inputs": [{"name", "shape", "datatype", "data"}], …};
//     data flat (row-major) or nested as the shape says.
//   TF Serving REST predict: {"instances": [...]} (row format: one entry per batch item; with
//     several inputs each entry is an object of them) or {"inputs": ...} (columnar: the batched
//     tensor, or an object of named batched tensors).
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "serve/tensor_values.h"

namespace fwbench::serve {

// A rejected request: `status` is the HTTP status to answer with (400 for the client's mistake).
class RequestError : public std::runtime_error {
 public:
  RequestError(int status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

struct TensorSignature {
  std::string name;
  std::string datatype;             // KServe names: "FP32", "INT64"
  std::vector<std::int64_t> shape;  // -1: any size (the batch dimension first)
};

struct ModelSignature {
  std::string name;
  std::vector<TensorSignature> inputs;
  std::vector<TensorSignature> outputs;
};

struct InputTensor {
  std::string name;
  std::string datatype;
  std::vector<std::int64_t> shape;
  TensorValues<float> fp32;          // datatype FP32
  TensorValues<std::int64_t> int64;  // datatype INT64
};

struct InferRequest {
  std::string id;                   // KServe "id", echoed in the response
  std::vector<InputTensor> inputs;  // in the signature's order
  bool binary_output = false;       // KServe binary tensor extension asked for the outputs
  std::int64_t BatchSize() const {
    return inputs.empty() || inputs[0].shape.empty() ? 1 : inputs[0].shape[0];
  }
};

// "inputs: image FP32 [-1, 3, 32, 32]; tokens INT64 [-1, -1]" — for error messages.
std::string DescribeInputs(const ModelSignature& signature);

// The checks every protocol's decoder shares (gRPC's too: grpc_infer_request.h); each refuses
// with a RequestError(400) that says what the model expects.
//   CountElements: the number of values `shape` holds (negative sizes and more than 2^40 refused).
//   CheckDatatype: a known input in another datatype than the signature's (an unknown name is
//     InSignatureOrder's to refuse).
//   InSignatureOrder: every input once, none unknown, shapes as the signature says; returns
//     them in the signature's order.
std::int64_t CountElements(const std::string& input, const std::vector<std::int64_t>& shape);
void CheckDatatype(const InputTensor& t, const ModelSignature& signature);
std::vector<InputTensor> InSignatureOrder(std::vector<InputTensor> given,
                                          const ModelSignature& signature);

// The Inference-Header-Content-Length header's value: 1 to 19 digits, else nullopt (std::stoull
// would read "-5" as 2^64 - 5).
std::optional<std::size_t> ParseByteCount(std::string_view text);

// `json_length`: the Inference-Header-Content-Length header of the binary tensor extension; the
// body is then that many bytes of JSON followed by the raw little-endian tensors of every input
// whose parameters give a "binary_data_size", in the order listed. With `body_owner` (what keeps
// `body` alive) those tensors are views of the body where they lie aligned for their datatype
// (the HTTP server places the body so that they do), not copies.
InferRequest ParseKserveV2Request(std::string_view body, const ModelSignature& signature,
                                  std::optional<std::size_t> json_length = std::nullopt,
                                  const std::shared_ptr<const void>& body_owner = nullptr);
InferRequest ParseTfServingRequest(std::string_view body, const ModelSignature& signature);

}  // namespace fwbench::serve
