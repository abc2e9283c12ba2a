#pragma once
// What `fwbench load` sends to an inference server: one prediction request in the server's
// protocol (KServe v2 with JSON or binary tensors, TF Serving, TorchServe), with reproducible
// input values, so the same load can be pointed at fwbench serve, Triton, TF Serving or
// TorchServe.
#include <cstdint>
#include <string>
#include <vector>

#include "loadgen/load_runner.h"

namespace fwbench::loadgen {

enum class LoadProtocol { kRaw, kKserveV2, kTfServing, kTorchServe };

// "raw", "kserve", "tfserving", "torchserve"; throws UsageError listing them otherwise.
LoadProtocol ParseLoadProtocol(const std::string& name);

struct InputSpec {
  std::string name;
  std::string datatype = "FP32";    // FP32 or INT64
  std::vector<std::int64_t> shape;  // concrete, batch first
};

// Asks the server for the model's inputs (KServe v2 or TF Serving metadata); -1 dimensions
// become `batch` for the first and 1 for others. Throws UsageError with the server's answer
// when it has no such model or speaks another protocol.
std::vector<InputSpec> FetchInputs(LoadProtocol protocol, const Url& server,
                                   const std::string& model, const std::string& bearer_token,
                                   std::int64_t batch);

// Every input's values as little-endian bytes, row-major: uniform in [0, 1) (FP32) or 0..9
// (INT64) from `seed`. The same values whatever carries them (JSON, binary tensors, gRPC).
std::vector<std::string> InputBytes(const std::vector<InputSpec>& inputs, std::uint64_t seed);

// The inference request (path and body) for `model` (latest version when `version` is empty).
// Values are uniform in [0, 1) (FP32) or 0..9 (INT64) from `seed`.
LoadRequest BuildInferRequest(LoadProtocol protocol, const Url& server, const std::string& model,
                              const std::string& version, const std::vector<InputSpec>& inputs,
                              bool binary, std::uint64_t seed);

}  // namespace fwbench::loadgen
