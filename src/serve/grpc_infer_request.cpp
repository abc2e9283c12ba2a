#include "serve/grpc_infer_request.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>

namespace fwbench::serve {

namespace {

[[noreturn]] void Bad(const std::string& message) { throw RequestError(400, message); }

std::size_t ValueBytes(const std::string& datatype) { return datatype == "INT64" ? 8 : 4; }

}  // namespace

InferRequest FromGrpcRequest(const inference::ModelInferRequest& request,
                             const ModelSignature& sig) {
  const int raw_count = request.raw_input_contents_size();
  if (raw_count != 0 && raw_count != request.inputs_size()) {
    Bad(
        fmt::format("raw_input_contents has {} entries for {} inputs; give one per input, in the "
                    "order of inputs",
                    raw_count, request.inputs_size()));
  }
  InferRequest out;
  out.id = request.id();
  std::vector<InputTensor> given;
  for (int i = 0; i < request.inputs_size(); ++i) {
    const auto& in = request.inputs(i);
    InputTensor t;
    t.name = in.name();
    t.datatype = in.datatype();
    t.shape.assign(in.shape().begin(), in.shape().end());
    CheckDatatype(t, sig);
    const std::int64_t elements = CountElements(t.name, t.shape);
    const bool known = t.datatype == "FP32" || t.datatype == "INT64";
    if (raw_count != 0) {
      if (in.has_contents()) {
        Bad(
            fmt::format("input '{}' has contents, but the request carries raw_input_contents; "
                        "give the values one way",
                        t.name));
      }
      const std::string& raw = request.raw_input_contents(i);
      const auto needed = static_cast<std::uint64_t>(elements) * ValueBytes(t.datatype);
      if (known && raw.size() != needed) {
        Bad(
            fmt::format("input '{}': shape [{}] of {} needs {} bytes, raw_input_contents[{}] has "
                        "{}",
                        t.name, fmt::join(t.shape, ", "), t.datatype, needed, i, raw.size()));
      }
      if (t.datatype == "FP32") {
        t.fp32.resize(static_cast<std::size_t>(elements));
        std::memcpy(t.fp32.data(), raw.data(), raw.size());
      } else if (t.datatype == "INT64") {
        t.int64.resize(static_cast<std::size_t>(elements));
        std::memcpy(t.int64.data(), raw.data(), raw.size());
      }
    } else {
      const auto& c = in.contents();
      const int count = t.datatype == "FP32"    ? c.fp32_contents_size()
                        : t.datatype == "INT64" ? c.int64_contents_size()
                                                : 0;
      if (known && count != elements) {
        Bad(fmt::format("input '{}': shape [{}] holds {} values, contents.{} has {}", t.name,
                        fmt::join(t.shape, ", "), elements,
                        t.datatype == "FP32" ? "fp32_contents" : "int64_contents", count));
      }
      if (t.datatype == "FP32") {
        t.fp32.assign(c.fp32_contents().begin(), c.fp32_contents().end());
      } else if (t.datatype == "INT64") {
        t.int64.assign(c.int64_contents().begin(), c.int64_contents().end());
      }
    }
    given.push_back(std::move(t));
  }
  out.inputs = InSignatureOrder(std::move(given), sig);
  return out;
}

void ToGrpcResponse(const std::string& model, const std::string& version, const std::string& id,
                    const std::vector<OutputTensor>& outputs,
                    inference::ModelInferResponse& response) {
  response.set_model_name(model);
  response.set_model_version(version);
  response.set_id(id);
  for (const auto& o : outputs) {
    auto* t = response.add_outputs();
    t->set_name(o.name);
    t->set_datatype("FP32");
    for (const auto d : o.shape) t->add_shape(d);
    response.add_raw_output_contents()->assign(reinterpret_cast<const char*>(o.fp32.data()),
                                               o.fp32.size() * sizeof(float));
  }
}

}  // namespace fwbench::serve
