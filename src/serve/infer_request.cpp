#include "serve/infer_request.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/bounded_json.h"

namespace fwbench::serve {

namespace {

using nlohmann::json;

[[noreturn]] void Bad(const std::string& message) { throw RequestError(400, message); }

json Parse(std::string_view body) {
  // Before any tree is built: walking a deeper one (Flatten, dump) would overflow the stack.
  if (const auto at = JsonTooDeepAt(body)) {
    Bad(fmt::format("the body is not usable: {}; a tensor nests one list per dimension",
                    JsonTooDeepMessage(*at)));
  }
  try {
    return json::parse(body);
  } catch (const json::parse_error& e) {
    Bad(fmt::format("the body is not valid JSON (byte {}): {}", e.byte, e.what()));
  } catch (const json::exception& e) {
    // e.g. out_of_range for a number beyond a double (found by fuzz/fuzz_kserve_request).
    Bad(fmt::format("the body is not usable JSON: {}", e.what()));
  }
}

std::string Shape(const std::vector<std::int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// Appends the leaves of a (nested) JSON array to `leaves` and returns its shape; a scalar has
// shape []. Ragged nesting is an error naming `what`.
std::vector<std::int64_t> Flatten(const json& value, std::vector<const json*>& leaves,
                                  const std::string& what) {
  if (!value.is_array()) {
    leaves.push_back(&value);
    return {};
  }
  std::vector<std::int64_t> shape = {static_cast<std::int64_t>(value.size())};
  std::vector<std::int64_t> inner;
  for (std::size_t i = 0; i < value.size(); ++i) {
    std::vector<std::int64_t> s = Flatten(value[i], leaves, what);
    if (i == 0) {
      inner = std::move(s);
    } else if (s != inner) {
      Bad(
          fmt::format("{}: ragged nested list (element {} has shape {}, element 0 has {}); every "
                      "row must have the same length",
                      what, i, Shape(s), Shape(inner)));
    }
  }
  shape.insert(shape.end(), inner.begin(), inner.end());
  return shape;
}

// A leaf for an error message, cut short: it may be a large object.
std::string Excerpt(const json& value) {
  std::string text = value.dump();
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

void FillValues(InputTensor& t, const std::vector<const json*>& leaves, const std::string& what) {
  if (t.datatype == "FP32") {
    t.fp32.reserve(leaves.size());
    for (const json* v : leaves) {
      if (!v->is_number()) {
        Bad(fmt::format("{}: datatype FP32 needs numbers, got {}", what, Excerpt(*v)));
      }
      const double d = v->get<double>();
      // Cast as it is, 1e39 would become Inf and come back as a null output with a 200.
      if (std::abs(d) > static_cast<double>(std::numeric_limits<float>::max())) {
        Bad(fmt::format("{}: value {} (element {}) is outside FP32's range (±{:.7g})", what, d,
                        t.fp32.size(), std::numeric_limits<float>::max()));
      }
      t.fp32.push_back(static_cast<float>(d));
    }
  } else if (t.datatype == "INT64") {
    t.int64.reserve(leaves.size());
    for (const json* v : leaves) {
      if (!v->is_number_integer()) {
        Bad(fmt::format("{}: datatype INT64 needs integers, got {}", what, Excerpt(*v)));
      }
      // Read as int64, 2^63 and above would wrap to negative numbers.
      if (v->is_number_unsigned() &&
          v->get<std::uint64_t>() >
              static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        Bad(fmt::format("{}: value {} (element {}) is outside INT64's range", what,
                        v->get<std::uint64_t>(), t.int64.size()));
      }
      t.int64.push_back(v->get<std::int64_t>());
    }
  } else {
    throw RequestError(500,
                       fmt::format("{}: the server does not handle datatype {}", what, t.datatype));
  }
}

const TensorSignature* FindInput(const ModelSignature& sig, const std::string& name) {
  for (const auto& in : sig.inputs) {
    if (in.name == name) return &in;
  }
  return nullptr;
}

void CheckShape(const InputTensor& t, const TensorSignature& s, const ModelSignature& sig) {
  bool ok = t.shape.size() == s.shape.size();
  for (std::size_t i = 0; ok && i < s.shape.size(); ++i) {
    ok = s.shape[i] < 0 || s.shape[i] == t.shape[i];
  }
  if (!ok) {
    Bad(
        fmt::format("input '{}' has shape {}; model '{}' expects {} (-1: any size). The model's "
                    "{}",
                    t.name, Shape(t.shape), sig.name, Shape(s.shape), DescribeInputs(sig)));
  }
}

// Orders the parsed tensors as the signature does, after checking that every input is there
// and nothing else is.
std::vector<InputTensor> InSignatureOrder(std::vector<InputTensor> given,
                                          const ModelSignature& sig) {
  for (std::size_t i = 0; i < given.size(); ++i) {
    for (std::size_t k = 0; k < i; ++k) {
      if (given[k].name == given[i].name) {
        Bad(fmt::format("input '{}' is given twice (inputs[{}] and inputs[{}]); each input once",
                        given[i].name, k, i));
      }
    }
  }
  for (const auto& t : given) {
    if (FindInput(sig, t.name) == nullptr) {
      Bad(fmt::format("unknown input '{}' for model '{}'; its {}", t.name, sig.name,
                      DescribeInputs(sig)));
    }
  }
  std::vector<InputTensor> out;
  for (const auto& s : sig.inputs) {
    const auto it = std::find_if(given.begin(), given.end(),
                                 [&](const InputTensor& t) { return t.name == s.name; });
    if (it == given.end()) {
      Bad(fmt::format("missing input '{}' for model '{}'; its {}", s.name, sig.name,
                      DescribeInputs(sig)));
    }
    CheckShape(*it, s, sig);
    out.push_back(std::move(*it));
  }
  return out;
}

InputTensor FromNested(const json& value, const TensorSignature& s, const std::string& what) {
  InputTensor t;
  t.name = s.name;
  t.datatype = s.datatype;
  std::vector<const json*> leaves;
  t.shape = Flatten(value, leaves, what);
  FillValues(t, leaves, what);
  return t;
}

}  // namespace

std::string DescribeInputs(const ModelSignature& sig) {
  std::vector<std::string> parts;
  for (const auto& in : sig.inputs) {
    parts.push_back(fmt::format("{} {} {}", in.name, in.datatype, Shape(in.shape)));
  }
  return fmt::format("inputs: {}", fmt::join(parts, "; "));
}

InferRequest ParseKserveV2Request(std::string_view body, const ModelSignature& sig,
                                  std::optional<std::size_t> json_length) {
  std::string_view binary;
  if (json_length) {
    if (*json_length > body.size()) {
      Bad(fmt::format("Inference-Header-Content-Length is {} but the body has only {} bytes",
                      *json_length, body.size()));
    }
    binary = body.substr(*json_length);
    body = body.substr(0, *json_length);
  }
  const json j = Parse(body);
  if (!j.is_object() || !j.contains("inputs") || !j["inputs"].is_array()) {
    Bad(
        fmt::format("a KServe v2 infer request is an object with an \"inputs\" list of "
                    "{{\"name\", \"shape\", \"datatype\", \"data\"}}; model '{}' takes {}",
                    sig.name, DescribeInputs(sig)));
  }
  InferRequest request;
  if (j.contains("id") && j["id"].is_string()) request.id = j["id"].get<std::string>();
  const auto wants_binary = [](const json& x) {
    return x.is_object() && x.contains("parameters") && x["parameters"].is_object() &&
           (x["parameters"].value("binary_data_output", false) ||
            x["parameters"].value("binary_data", false));
  };
  request.binary_output = wants_binary(j);
  if (j.contains("outputs") && j["outputs"].is_array()) {
    for (const json& o : j["outputs"]) request.binary_output |= wants_binary(o);
  }
  std::size_t binary_used = 0;
  std::vector<InputTensor> given;
  for (std::size_t i = 0; i < j["inputs"].size(); ++i) {
    const json& in = j["inputs"][i];
    const std::string where = fmt::format("inputs[{}]", i);
    const bool is_binary = in.is_object() && in.contains("parameters") &&
                           in["parameters"].is_object() &&
                           in["parameters"].contains("binary_data_size");
    if (!in.is_object() || !in.contains("name") || !in["name"].is_string() ||
        !in.contains("shape") || !in["shape"].is_array() || !in.contains("datatype") ||
        !in["datatype"].is_string() || (!in.contains("data") && !is_binary)) {
      Bad(
          fmt::format("{} needs \"name\" (string), \"shape\" (list of integers), \"datatype\" "
                      "(string) and \"data\" (or parameters.binary_data_size with the binary "
                      "tensor extension)",
                      where));
    }
    InputTensor t;
    t.name = in["name"].get<std::string>();
    t.datatype = in["datatype"].get<std::string>();
    for (const json& d : in["shape"]) {
      if (!d.is_number_integer() || d.get<std::int64_t>() < 0) {
        Bad(fmt::format("input '{}': shape {} must be non-negative integers", t.name,
                        in["shape"].dump()));
      }
      t.shape.push_back(d.get<std::int64_t>());
    }
    const TensorSignature* s = FindInput(sig, t.name);
    if (s != nullptr && s->datatype != t.datatype) {
      Bad(fmt::format("input '{}' has datatype {}; model '{}' expects {}. The model's {}", t.name,
                      t.datatype, sig.name, s->datatype, DescribeInputs(sig)));
    }
    // Checked before each multiplication: a product that wrapped (two dimensions of 2^32 make 0)
    // would let an absurd shape through with no data (found in review).
    constexpr std::int64_t kMaxElements = std::int64_t{1} << 40;
    std::int64_t elements = 1;
    for (const auto d : t.shape) {
      if (d > kMaxElements || (d != 0 && elements > kMaxElements / d)) {
        Bad(fmt::format("input '{}': shape {} has more than 2^40 elements", t.name,
                        Shape(t.shape)));
      }
      elements *= d;
    }
    if (is_binary) {
      const json& size = in["parameters"]["binary_data_size"];
      if (!json_length) {
        Bad(
            fmt::format("input '{}' gives binary_data_size but the request has no "
                        "Inference-Header-Content-Length header",
                        t.name));
      }
      if (!size.is_number_unsigned()) {
        Bad(fmt::format("input '{}': binary_data_size must be a non-negative integer", t.name));
      }
      const auto bytes = size.get<std::uint64_t>();
      const std::uint64_t width = t.datatype == "INT64" ? 8 : 4;
      if (bytes != static_cast<std::uint64_t>(elements) * width) {
        Bad(fmt::format("input '{}': shape {} of {} needs {} bytes, binary_data_size is {}", t.name,
                        Shape(t.shape), t.datatype, static_cast<std::uint64_t>(elements) * width,
                        bytes));
      }
      if (bytes > binary.size() - binary_used) {
        Bad(
            fmt::format("input '{}': binary_data_size {} runs past the end of the body ({} "
                        "binary bytes left)",
                        t.name, bytes, binary.size() - binary_used));
      }
      if (s != nullptr) {
        const char* from = binary.data() + binary_used;
        if (t.datatype == "FP32") {
          t.fp32.resize(static_cast<std::size_t>(elements));
          std::memcpy(t.fp32.data(), from, bytes);
        } else if (t.datatype == "INT64") {
          t.int64.resize(static_cast<std::size_t>(elements));
          std::memcpy(t.int64.data(), from, bytes);
        }
      }
      binary_used += bytes;
    } else {
      std::vector<const json*> leaves;
      Flatten(in["data"], leaves, "input '" + t.name + "'");
      if (static_cast<std::int64_t>(leaves.size()) != elements) {
        Bad(fmt::format("input '{}': shape {} holds {} values, \"data\" has {}", t.name,
                        Shape(t.shape), elements, leaves.size()));
      }
      if (s != nullptr) FillValues(t, leaves, "input '" + t.name + "'");
    }
    given.push_back(std::move(t));
  }
  if (binary_used != binary.size()) {
    Bad(
        fmt::format("the body has {} binary bytes after the JSON header; the inputs' "
                    "binary_data_size add up to {}",
                    binary.size(), binary_used));
  }
  request.inputs = InSignatureOrder(std::move(given), sig);
  return request;
}

InferRequest ParseTfServingRequest(std::string_view body, const ModelSignature& sig) {
  const json j = Parse(body);
  const bool rows = j.is_object() && j.contains("instances");
  const bool columns = j.is_object() && j.contains("inputs");
  if (rows == columns) {
    Bad(
        fmt::format("a TF Serving predict request is an object with either \"instances\" (one "
                    "entry per example) or \"inputs\" (batched tensors); model '{}' takes {}",
                    sig.name, DescribeInputs(sig)));
  }
  std::vector<InputTensor> given;
  if (rows) {
    const json& instances = j["instances"];
    if (!instances.is_array() || instances.empty()) {
      Bad("\"instances\" must be a non-empty list, one entry per example");
    }
    if (sig.inputs.size() == 1 && !instances[0].is_object()) {
      given.push_back(FromNested(instances, sig.inputs[0], "instances"));
    } else {
      // Row format with named inputs: stack each input across the instances.
      for (const auto& s : sig.inputs) {
        json column = json::array();
        for (std::size_t i = 0; i < instances.size(); ++i) {
          const json& inst = instances[i];
          if (!inst.is_object() || !inst.contains(s.name)) {
            Bad(
                fmt::format("instances[{}] lacks input '{}'; with several inputs each instance "
                            "is an object of them ({})",
                            i, s.name, DescribeInputs(sig)));
          }
          column.push_back(inst[s.name]);
        }
        given.push_back(FromNested(column, s, fmt::format("instances[*].{}", s.name)));
      }
      for (const auto& [name, value] : instances[0].items()) {
        if (FindInput(sig, name) == nullptr) {
          Bad(fmt::format("unknown input '{}' for model '{}'; its {}", name, sig.name,
                          DescribeInputs(sig)));
        }
      }
    }
  } else {
    const json& inputs = j["inputs"];
    if (sig.inputs.size() == 1 && !inputs.is_object()) {
      given.push_back(FromNested(inputs, sig.inputs[0], "inputs"));
    } else {
      if (!inputs.is_object()) {
        Bad(fmt::format("\"inputs\" must be an object of named tensors for model '{}' ({})",
                        sig.name, DescribeInputs(sig)));
      }
      for (const auto& [name, value] : inputs.items()) {
        const TensorSignature* s = FindInput(sig, name);
        if (s == nullptr) {
          Bad(fmt::format("unknown input '{}' for model '{}'; its {}", name, sig.name,
                          DescribeInputs(sig)));
        }
        given.push_back(FromNested(value, *s, "inputs." + name));
      }
    }
  }
  InferRequest request;
  request.inputs = InSignatureOrder(std::move(given), sig);
  return request;
}

}  // namespace fwbench::serve
