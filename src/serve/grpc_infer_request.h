#pragma once
// KServe v2 gRPC messages to and from the server's own request and output types: the gRPC
// counterpart of ParseKserveV2Request and KserveV2Response, checked against the model's
// signature by the same rules (infer_request.h), refused with the same messages.
#include <string>
#include <vector>

#include "protocols/kserve_v2_grpc.pb.h"
#include "serve/infer_request.h"
#include "serve/responses.h"

namespace fwbench::serve {

// Input values come either as raw_input_contents (one little-endian byte string per input, as
// tritonclient sends them) or as each input's typed contents (fp32_contents, int64_contents);
// throws RequestError(400) naming the input and what the model expects.
InferRequest FromGrpcRequest(const inference::ModelInferRequest& request,
                             const ModelSignature& signature);

// Outputs go back as raw_output_contents (FP32, little-endian), as Triton answers.
void ToGrpcResponse(const std::string& model, const std::string& version, const std::string& id,
                    const std::vector<OutputTensor>& outputs,
                    inference::ModelInferResponse& response);

}  // namespace fwbench::serve
