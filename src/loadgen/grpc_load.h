#pragma once
// `fwbench load --grpc`: KServe v2 ModelInfer over gRPC, closed or open loop, recorded exactly as
// the HTTP load is (RequestRecord: latency from the intended send time, errors by kind), so one
// summary, one rate search and one report serve both. A "connection" is a channel of its own
// (its own TCP connection, not one shared HTTP/2 connection) with one call in flight, as an
// HTTP/1.1 keep-alive connection has; the request is serialized once and every call sends the
// same bytes.
#include <cstdint>
#include <string>
#include <vector>

#include "loadgen/load_runner.h"
#include "loadgen/protocol_request.h"

namespace fwbench::loadgen {

struct GrpcLoadRequest {
  std::string target;        // "host:port"
  std::string bearer_token;  // sent as 'authorization: Bearer …' when not empty
  std::string serialized;    // the ModelInferRequest, as sent
};

// The model's inputs from its ModelMetadata (-1 dimensions: `batch` first, 1 after). Throws
// UsageError with the server's answer when there is none or no such model.
std::vector<InputSpec> FetchGrpcInputs(const std::string& target, const std::string& model,
                                       const std::string& bearer_token, std::int64_t batch);

// ModelInfer of `model` with InputBytes(inputs, seed) as raw_input_contents.
GrpcLoadRequest BuildGrpcInferRequest(const std::string& target, const std::string& model,
                                      const std::string& version,
                                      const std::vector<InputSpec>& inputs, std::uint64_t seed,
                                      const std::string& bearer_token);

// One call, as a probe before the load: empty when it succeeded, else the status in words.
std::string ProbeGrpc(const GrpcLoadRequest& request, double timeout_s);

// Runs the load; one record per call. Error kinds: "timeout" (the deadline passed), else
// "grpc_" and the status code's name in lower case ("grpc_unavailable", …).
std::vector<RequestRecord> RunGrpcLoad(const GrpcLoadRequest& request, const LoadOptions& options);

}  // namespace fwbench::loadgen
