#pragma once
// A batch of requests as one tensor per input and back: the requests' rows concatenated along
// the batch dimension, and each output's rows handed back to the request they came from. Shared
// by the ONNX runtimes behind fwbench serve (OpenVINO, OpenCV DNN).
#include <cstdint>
#include <string>
#include <vector>

#include "serve/served_model.h"

namespace fwbench {

template <typename T>
struct BatchedInput {
  std::vector<std::int64_t> shape;  // the first request's, with every request's rows
  // A batch of one request views its values (valid while the request is); more are concatenated.
  serve::TensorValues<T> values;
  // For runtimes whose input tensors take a mutable pointer but only read through it.
  void* data() const { return const_cast<T*>(values.data()); }
};

// Input `index` of every request (FP32 values for float, INT64 for std::int64_t). Throws
// std::runtime_error when the requests disagree past the batch dimension (a -1 there lets them
// differ) or their values do not fill their rows.
template <typename T>
BatchedInput<T> ConcatRows(const std::vector<const serve::InferRequest*>& requests,
                           std::size_t index);

// Output `name` of shape `shape` (rows first, one per input row, in the requests' order) split
// back: appended to each request's outputs. Throws std::runtime_error when it has not one row
// per input row.
void SplitRows(const std::vector<const serve::InferRequest*>& requests, const std::string& name,
               const std::vector<std::int64_t>& shape, const float* values,
               std::vector<std::vector<serve::OutputTensor>>& per_request);

}  // namespace fwbench
