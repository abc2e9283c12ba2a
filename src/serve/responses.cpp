#include "serve/responses.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <stdexcept>

namespace fwbench::serve {

namespace {

using nlohmann::json;

// The rows of a batched tensor: row i is the nested array of shape shape[1:].
json Nest(const float* data, const std::int64_t* shape, std::size_t rank) {
  if (rank == 0) return *data;
  json out = json::array();
  std::int64_t stride = 1;
  for (std::size_t i = 1; i < rank; ++i) stride *= shape[i];
  for (std::int64_t i = 0; i < shape[0]; ++i)
    out.push_back(Nest(data + i * stride, shape + 1, rank - 1));
  return out;
}

std::int64_t Elements(const OutputTensor& t) {
  std::int64_t n = 1;
  for (const auto d : t.shape) n *= d;
  return n;
}

json Rows(const std::vector<OutputTensor>& outputs) {
  if (outputs.empty()) return json::array();
  for (const auto& t : outputs) {
    if (t.shape.empty()) {
      throw std::invalid_argument(fmt::format("output '{}' has no batch dimension", t.name));
    }
    if (t.shape[0] != outputs[0].shape[0]) {
      throw std::invalid_argument("outputs disagree on the batch size");
    }
    if (Elements(t) != static_cast<std::int64_t>(t.fp32.size())) {
      throw std::invalid_argument(fmt::format("output '{}': shape and data disagree", t.name));
    }
  }
  if (outputs.size() == 1) {
    return Nest(outputs[0].fp32.data(), outputs[0].shape.data(), outputs[0].shape.size());
  }
  json rows = json::array();
  for (std::int64_t i = 0; i < outputs[0].shape[0]; ++i) {
    json row = json::object();
    for (const auto& t : outputs) {
      const std::int64_t stride = Elements(t) / std::max<std::int64_t>(1, t.shape[0]);
      row[t.name] = Nest(t.fp32.data() + i * stride, t.shape.data() + 1, t.shape.size() - 1);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

std::string KserveV2Response(const std::string& model, const std::string& version,
                             const std::string& id, const std::vector<OutputTensor>& outputs) {
  json out = {{"model_name", model}, {"outputs", json::array()}};
  if (!version.empty()) out["model_version"] = version;
  if (!id.empty()) out["id"] = id;
  for (const auto& t : outputs) {
    out["outputs"].push_back({{"name", t.name},
                              {"datatype", "FP32"},
                              {"shape", t.shape},
                              {"data", json::array_t(t.fp32.begin(), t.fp32.end())}});
  }
  return out.dump();
}

BinaryBody KserveV2BinaryResponse(const std::string& model, const std::string& version,
                                  const std::string& id, const std::vector<OutputTensor>& outputs) {
  json out = {{"model_name", model}, {"outputs", json::array()}};
  if (!version.empty()) out["model_version"] = version;
  if (!id.empty()) out["id"] = id;
  for (const auto& t : outputs) {
    out["outputs"].push_back({{"name", t.name},
                              {"datatype", "FP32"},
                              {"shape", t.shape},
                              {"parameters", {{"binary_data_size", t.fp32.size() * 4}}}});
  }
  BinaryBody b;
  b.json = out.dump();
  for (const auto& t : outputs) {
    b.tensors.emplace_back(reinterpret_cast<const char*>(t.fp32.data()),
                           t.fp32.size() * sizeof(float));
  }
  return b;
}

std::string TfServingResponse(const std::vector<OutputTensor>& outputs) {
  return json{{"predictions", Rows(outputs)}}.dump();
}

std::string TorchServeResponse(const std::vector<OutputTensor>& outputs) {
  return Rows(outputs).dump();
}

std::string ErrorBody(Protocol protocol, int status, const std::string& message) {
  if (protocol == Protocol::kTorchServe) {
    const char* type = status == 404   ? "ModelNotFoundException"
                       : status == 503 ? "ServiceUnavailableException"
                       : status == 413 ? "RequestTooLargeException"
                       : status >= 500 ? "InternalServerException"
                                       : "BadRequestException";
    return json{{"code", status}, {"type", type}, {"message", message}}.dump(
        -1, ' ', false, json::error_handler_t::replace);
  }
  // Messages quote what the client sent, which need not be UTF-8: replaced, not thrown on.
  return json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace fwbench::serve
