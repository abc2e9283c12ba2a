#pragma once
// What the server runs a batch on: one version of one model, loaded. The TorchScript
// implementation lives with the other LibTorch code (backends/served/served_libtorch.h); tests use
// plain C++ models.
#include <memory>
#include <vector>

#include "serve/infer_request.h"
#include "serve/responses.h"

namespace fwbench::serve {

class ServedModel {
 public:
  virtual ~ServedModel() = default;
  // Runs the requests as one batch (each input concatenated along its first dimension, in the
  // order given) and returns each request's outputs, in the signature's order. Throws on failure;
  // the whole batch then fails with the message.
  virtual std::vector<std::vector<OutputTensor>> RunBatch(
      const std::vector<const InferRequest*>& requests) = 0;
};

}  // namespace fwbench::serve
