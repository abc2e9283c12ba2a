#include "serve/responses.h"

#include <fmt/compile.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <stdexcept>
#include <string_view>

namespace fwbench::serve {

namespace {

using nlohmann::json;

// Answers are written straight from the output tensors into the body: a tree of 1,000 logits
// (or of a 1M-value map) built first and then dumped cost more than the writing
// (build/bench/binary_tensor_bench, docs/serve.md).

// A value in the shortest form that reads back as the same float, always with a '.' or an
// exponent (a client reading `1` would get an integer); NaN and ±Inf, which JSON cannot carry,
// as null (as nlohmann::json wrote them).
void AppendValue(std::string& out, float v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char text[32];
  const auto end = fmt::format_to(text, FMT_COMPILE("{}"), v);
  const std::string_view written(text, static_cast<std::size_t>(end - text));
  out += written;
  if (written.find_first_of(".e") == std::string_view::npos) out += ".0";
}

void AppendValues(std::string& out, const float* data, std::size_t n) {
  out += '[';
  for (std::size_t i = 0; i < n; ++i) {
    if (i != 0) out += ',';
    AppendValue(out, data[i]);
  }
  out += ']';
}

// The rows of a batched tensor: row i is the nested array of shape shape[1:].
void AppendNested(std::string& out, const float* data, const std::int64_t* shape,
                  std::size_t rank) {
  if (rank == 0) return AppendValue(out, *data);
  std::int64_t stride = 1;
  for (std::size_t i = 1; i < rank; ++i) stride *= shape[i];
  if (rank == 1) return AppendValues(out, data, static_cast<std::size_t>(shape[0]));
  out += '[';
  for (std::int64_t i = 0; i < shape[0]; ++i) {
    if (i != 0) out += ',';
    AppendNested(out, data + i * stride, shape + 1, rank - 1);
  }
  out += ']';
}

// Names and ids come from the client or the repository: escaped by nlohmann::json, and text
// that is not UTF-8 replaced rather than thrown on.
void AppendString(std::string& out, const std::string& text) {
  out += json(text).dump(-1, ' ', false, json::error_handler_t::replace);
}

void AppendShape(std::string& out, const std::vector<std::int64_t>& shape) {
  fmt::format_to(std::back_inserter(out), "[{}]", fmt::join(shape, ","));
}

std::int64_t Elements(const OutputTensor& t) {
  std::int64_t n = 1;
  for (const auto d : t.shape) n *= d;
  return n;
}

void AppendRows(std::string& out, const std::vector<OutputTensor>& outputs) {
  if (outputs.empty()) {
    out += "[]";
    return;
  }
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
    return AppendNested(out, outputs[0].fp32.data(), outputs[0].shape.data(),
                        outputs[0].shape.size());
  }
  out += '[';
  for (std::int64_t i = 0; i < outputs[0].shape[0]; ++i) {
    if (i != 0) out += ',';
    out += '{';
    for (std::size_t o = 0; o < outputs.size(); ++o) {
      const OutputTensor& t = outputs[o];
      if (o != 0) out += ',';
      AppendString(out, t.name);
      out += ':';
      const std::int64_t stride = Elements(t) / std::max<std::int64_t>(1, t.shape[0]);
      AppendNested(out, t.fp32.data() + i * stride, t.shape.data() + 1, t.shape.size() - 1);
    }
    out += '}';
  }
  out += ']';
}

// {"model_name":…,"model_version":…,"id":…,"outputs":[ — what both KServe answers start with.
void AppendKserveHead(std::string& out, const std::string& model, const std::string& version,
                      const std::string& id) {
  out += "{\"model_name\":";
  AppendString(out, model);
  if (!version.empty()) {
    out += ",\"model_version\":";
    AppendString(out, version);
  }
  if (!id.empty()) {
    out += ",\"id\":";
    AppendString(out, id);
  }
  out += ",\"outputs\":[";
}

// {"name":…,"datatype":"FP32","shape":[…], — each KServe output's start.
void AppendKserveOutputHead(std::string& out, const OutputTensor& t) {
  out += "{\"name\":";
  AppendString(out, t.name);
  out += ",\"datatype\":\"FP32\",\"shape\":";
  AppendShape(out, t.shape);
  out += ',';
}

}  // namespace

std::string KserveV2Response(const std::string& model, const std::string& version,
                             const std::string& id, const std::vector<OutputTensor>& outputs) {
  std::string out;
  std::size_t values = 0;
  for (const auto& t : outputs) values += t.fp32.size();
  out.reserve(128 + 12 * values);
  AppendKserveHead(out, model, version, id);
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    if (o != 0) out += ',';
    AppendKserveOutputHead(out, outputs[o]);
    out += "\"data\":";
    AppendValues(out, outputs[o].fp32.data(), outputs[o].fp32.size());
    out += '}';
  }
  out += "]}";
  return out;
}

BinaryBody KserveV2BinaryResponse(const std::string& model, const std::string& version,
                                  const std::string& id, const std::vector<OutputTensor>& outputs) {
  BinaryBody b;
  AppendKserveHead(b.json, model, version, id);
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    const OutputTensor& t = outputs[o];
    if (o != 0) b.json += ',';
    AppendKserveOutputHead(b.json, t);
    fmt::format_to(std::back_inserter(b.json), "\"parameters\":{{\"binary_data_size\":{}}}}}",
                   t.fp32.size() * sizeof(float));
    b.tensors.emplace_back(reinterpret_cast<const char*>(t.fp32.data()),
                           t.fp32.size() * sizeof(float));
  }
  b.json += "]}";
  return b;
}

std::string TfServingResponse(const std::vector<OutputTensor>& outputs) {
  std::string out = "{\"predictions\":";
  AppendRows(out, outputs);
  out += '}';
  return out;
}

std::string TorchServeResponse(const std::vector<OutputTensor>& outputs) {
  std::string out;
  AppendRows(out, outputs);
  return out;
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
