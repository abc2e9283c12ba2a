#include "serve/grpc_infer_request.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace fwbench::serve {

namespace {

[[noreturn]] void Bad(const std::string& message) { throw RequestError(400, message); }

std::size_t ValueBytes(const std::string& datatype) { return datatype == "INT64" ? 8 : 4; }

}  // namespace

InferRequest FromGrpcRequest(const inference::ModelInferRequest& request, const ModelSignature& sig,
                             bool view_values) {
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
        t.fp32 = TensorValues<float>::ViewOrCopy(raw, view_values, nullptr);
      } else if (t.datatype == "INT64") {
        t.int64 = TensorValues<std::int64_t>::ViewOrCopy(raw, view_values, nullptr);
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

InferRequest FromTfServingGrpcRequest(const tensorflow::serving::PredictRequest& request,
                                      const ModelSignature& sig, bool view_values) {
  using tensorflow::serving::DataType;
  const std::string& signature = request.model_spec().signature_name();
  if (!signature.empty() && signature != "serving_default") {
    Bad(
        fmt::format("model '{}' has one signature, serving_default; model_spec.signature_name is "
                    "'{}'",
                    sig.name, signature));
  }
  std::vector<InputTensor> given;
  for (const auto& [name, tensor] : request.inputs()) {
    InputTensor t;
    t.name = name;
    t.datatype = tensor.dtype() == DataType::DT_FLOAT ? "FP32"
                 : tensor.dtype() == DataType::DT_INT64
                     ? "INT64"
                     : fmt::format("dtype {}", static_cast<int>(tensor.dtype()));
    if (tensor.tensor_shape().unknown_rank()) {
      Bad(fmt::format("input '{}' has an unknown rank; give its tensor_shape", name));
    }
    for (const auto& d : tensor.tensor_shape().dim()) t.shape.push_back(d.size());
    CheckDatatype(t, sig);
    const std::int64_t elements = CountElements(t.name, t.shape);
    const bool fp32 = t.datatype == "FP32";
    if (!fp32 && t.datatype != "INT64") {
      // Known inputs were refused above; an unknown one is InSignatureOrder's to name.
      given.push_back(std::move(t));
      continue;
    }
    const std::string& raw = tensor.tensor_content();
    const int listed = fp32 ? tensor.float_val_size() : tensor.int64_val_size();
    if (!raw.empty()) {
      const auto needed = static_cast<std::uint64_t>(elements) * ValueBytes(t.datatype);
      if (raw.size() != needed || listed != 0) {
        Bad(
            fmt::format("input '{}': shape [{}] of {} needs {} bytes of tensor_content, it has "
                        "{}{}",
                        name, fmt::join(t.shape, ", "), t.datatype, needed, raw.size(),
                        listed != 0 ? " (and a typed list as well: give the values one way)" : ""));
      }
      if (fp32) {
        t.fp32 = TensorValues<float>::ViewOrCopy(raw, view_values, nullptr);
      } else {
        t.int64 = TensorValues<std::int64_t>::ViewOrCopy(raw, view_values, nullptr);
      }
    } else if (listed == elements || (listed == 1 && elements > 0)) {
      const auto n = static_cast<std::size_t>(elements);
      if (fp32) {
        t.fp32.assign(tensor.float_val().begin(), tensor.float_val().end());
        t.fp32.resize(n, t.fp32.empty() ? 0.0f : t.fp32.front());
      } else {
        t.int64.assign(tensor.int64_val().begin(), tensor.int64_val().end());
        t.int64.resize(n, t.int64.empty() ? 0 : t.int64.front());
      }
    } else {
      Bad(fmt::format(
          "input '{}': shape [{}] holds {} values, {} has {} (one value fills the "
          "shape)",
          name, fmt::join(t.shape, ", "), elements, fp32 ? "float_val" : "int64_val", listed));
    }
    given.push_back(std::move(t));
  }
  for (const auto& wanted : request.output_filter()) {
    const bool known = std::any_of(sig.outputs.begin(), sig.outputs.end(),
                                   [&](const TensorSignature& o) { return o.name == wanted; });
    if (!known) {
      std::vector<std::string> names;
      for (const auto& o : sig.outputs) names.push_back(o.name);
      Bad(fmt::format("output_filter names '{}'; model '{}' has outputs {}", wanted, sig.name,
                      fmt::join(names, ", ")));
    }
  }
  InferRequest out;
  out.inputs = InSignatureOrder(std::move(given), sig);
  return out;
}

void ToTfServingGrpcResponse(const std::string& model, const std::string& version,
                             const std::vector<OutputTensor>& outputs,
                             const google::protobuf::RepeatedPtrField<std::string>& filter,
                             tensorflow::serving::PredictResponse& response) {
  auto* spec = response.mutable_model_spec();
  spec->set_name(model);
  spec->mutable_version()->set_value(std::stoll(version));
  spec->set_signature_name("serving_default");
  for (const auto& o : outputs) {
    if (!filter.empty() && std::find(filter.begin(), filter.end(), o.name) == filter.end()) {
      continue;
    }
    tensorflow::serving::TensorProto& t = (*response.mutable_outputs())[o.name];
    t.set_dtype(tensorflow::serving::DataType::DT_FLOAT);
    for (const auto d : o.shape) t.mutable_tensor_shape()->add_dim()->set_size(d);
    t.set_tensor_content(reinterpret_cast<const char*>(o.fp32.data()),
                         o.fp32.size() * sizeof(float));
  }
}

}  // namespace fwbench::serve
