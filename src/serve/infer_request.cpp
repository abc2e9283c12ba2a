#include "serve/infer_request.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include <algorithm>

namespace fwbench::serve {

namespace {

using nlohmann::json;

[[noreturn]] void Bad(const std::string& message) { throw RequestError(400, message); }

json Parse(std::string_view body) {
  try {
    return json::parse(body);
  } catch (const json::parse_error& e) {
    Bad(fmt::format("the body is not valid JSON (byte {}): {}", e.byte, e.what()));
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

void FillValues(InputTensor& t, const std::vector<const json*>& leaves, const std::string& what) {
  if (t.datatype == "FP32") {
    t.fp32.reserve(leaves.size());
    for (const json* v : leaves) {
      if (!v->is_number()) {
        Bad(fmt::format("{}: datatype FP32 needs numbers, got {}", what, v->dump()));
      }
      t.fp32.push_back(v->get<float>());
    }
  } else if (t.datatype == "INT64") {
    t.int64.reserve(leaves.size());
    for (const json* v : leaves) {
      if (!v->is_number_integer()) {
        Bad(fmt::format("{}: datatype INT64 needs integers, got {}", what, v->dump()));
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

InferRequest ParseKserveV2Request(std::string_view body, const ModelSignature& sig) {
  const json j = Parse(body);
  if (!j.is_object() || !j.contains("inputs") || !j["inputs"].is_array()) {
    Bad(
        fmt::format("a KServe v2 infer request is an object with an \"inputs\" list of "
                    "{{\"name\", \"shape\", \"datatype\", \"data\"}}; model '{}' takes {}",
                    sig.name, DescribeInputs(sig)));
  }
  InferRequest request;
  if (j.contains("id") && j["id"].is_string()) request.id = j["id"].get<std::string>();
  std::vector<InputTensor> given;
  for (std::size_t i = 0; i < j["inputs"].size(); ++i) {
    const json& in = j["inputs"][i];
    const std::string where = fmt::format("inputs[{}]", i);
    if (!in.is_object() || !in.contains("name") || !in["name"].is_string() ||
        !in.contains("shape") || !in["shape"].is_array() || !in.contains("datatype") ||
        !in["datatype"].is_string() || !in.contains("data")) {
      Bad(
          fmt::format("{} needs \"name\" (string), \"shape\" (list of integers), \"datatype\" "
                      "(string) and \"data\"",
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
    std::vector<const json*> leaves;
    Flatten(in["data"], leaves, "input '" + t.name + "'");
    std::int64_t elements = 1;
    for (const auto d : t.shape) elements *= d;
    if (static_cast<std::int64_t>(leaves.size()) != elements) {
      Bad(fmt::format("input '{}': shape {} holds {} values, \"data\" has {}", t.name,
                      Shape(t.shape), elements, leaves.size()));
    }
    if (s != nullptr) FillValues(t, leaves, "input '" + t.name + "'");
    given.push_back(std::move(t));
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
