#pragma once
// gRPC messages to and from the server's own request and output types, checked against the
// model's signature by the same rules as the HTTP bodies (infer_request.h), refused with the same
// messages: KServe v2's ModelInfer (the counterpart of ParseKserveV2Request and
// KserveV2Response) and TF Serving's Predict (of ParseTfServingRequest and TfServingResponse).
#include <string>
#include <vector>

#include "protocols/kserve_v2_grpc.pb.h"
#include "protocols/tf_serving_predict.pb.h"
#include "serve/infer_request.h"
#include "serve/responses.h"

namespace fwbench::serve {

// Input values come either as raw_input_contents (one little-endian byte string per input, as
// tritonclient sends them) or as each input's typed contents (fp32_contents, int64_contents);
// throws RequestError(400) naming the input and what the model expects.
// `view_values`: raw bytes become views of the message's own (where aligned for the datatype),
// not copies; only where the message outlives every use of the result, as a server call's does
// (gRPC frees it once the call is finished, and that is after the batch ran).
InferRequest FromGrpcRequest(const inference::ModelInferRequest& request,
                             const ModelSignature& signature, bool view_values = false);

// Outputs go back as raw_output_contents (FP32, little-endian), as Triton answers.
void ToGrpcResponse(const std::string& model, const std::string& version, const std::string& id,
                    const std::vector<OutputTensor>& outputs,
                    inference::ModelInferResponse& response);

// An output_filter naming an output the model lacks is refused here, before the batch runs.
// Each input's values come from its tensor_content (little-endian bytes, as
// tf.make_tensor_proto writes a NumPy array) or its typed list (float_val, int64_val; a single
// value fills the shape, as TensorFlow reads it). dtype DT_FLOAT is FP32, DT_INT64 INT64.
// Throws RequestError(400) naming the input and what the model expects. `view_values`: as for
// FromGrpcRequest, for tensor_content.
InferRequest FromTfServingGrpcRequest(const tensorflow::serving::PredictRequest& request,
                                      const ModelSignature& signature, bool view_values = false);

// The outputs named by `filter` (every output when empty; FromTfServingGrpcRequest refused
// unknown names), as DT_FLOAT tensors with tensor_content.
void ToTfServingGrpcResponse(const std::string& model, const std::string& version,
                             const std::vector<OutputTensor>& outputs,
                             const google::protobuf::RepeatedPtrField<std::string>& filter,
                             tensorflow::serving::PredictResponse& response);

}  // namespace fwbench::serve
