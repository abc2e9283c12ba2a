#include "loadgen/protocol_request.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstring>

#include "core/bounded_json.h"
#include "core/error.h"

namespace fwbench::loadgen {

namespace {

using nlohmann::json;

std::uint64_t SplitMix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::int64_t Elements(const InputSpec& s) {
  std::int64_t n = 1;
  for (const auto d : s.shape) n *= d;
  return n;
}

// Nested rows of shape `shape` from `values` (TF Serving and TorchServe take nested lists).
json Nest(const json& flat, std::size_t offset, const std::vector<std::int64_t>& shape,
          std::size_t dim) {
  if (dim == shape.size()) return flat[offset];
  json out = json::array();
  std::size_t stride = 1;
  for (std::size_t i = dim + 1; i < shape.size(); ++i) stride *= static_cast<std::size_t>(shape[i]);
  for (std::int64_t i = 0; i < shape[dim]; ++i) {
    out.push_back(Nest(flat, offset + static_cast<std::size_t>(i) * stride, shape, dim + 1));
  }
  return out;
}

std::vector<std::int64_t> Concrete(const json& dims, std::int64_t batch) {
  std::vector<std::int64_t> shape;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const std::int64_t d =
        dims[i].is_string() ? std::stoll(dims[i].get<std::string>()) : dims[i].get<std::int64_t>();
    shape.push_back(d >= 0 ? d : (i == 0 ? batch : 1));
  }
  return shape;
}

}  // namespace

LoadProtocol ParseLoadProtocol(const std::string& name) {
  if (name == "raw") return LoadProtocol::kRaw;
  if (name == "kserve") return LoadProtocol::kKserveV2;
  if (name == "tfserving") return LoadProtocol::kTfServing;
  if (name == "torchserve") return LoadProtocol::kTorchServe;
  throw UsageError(fmt::format(
      "--protocol '{}' is unknown; expected raw (the URL as given), kserve, tfserving or "
      "torchserve",
      name));
}

std::vector<InputSpec> FetchInputs(LoadProtocol protocol, const Url& server,
                                   const std::string& model, const std::string& token,
                                   std::int64_t batch) {
  HttpCall call;
  if (!token.empty()) call.headers.emplace_back("Authorization", "Bearer " + token);
  if (protocol == LoadProtocol::kKserveV2) {
    call.target = "/v2/models/" + model;
  } else if (protocol == LoadProtocol::kTfServing) {
    call.target = "/v1/models/" + model + "/metadata";
  } else {
    throw UsageError(
        "this protocol has no metadata endpoint to learn the model's inputs from; "
        "give them with --input NAME:FP32:1x3x224x224");
  }
  const HttpResult r = Fetch(server, call);
  if (r.status != 200) {
    throw UsageError(fmt::format(
        "asked http://{}:{}{} for model '{}''s inputs and got {}: {}. Is the model name right "
        "and does the server speak this protocol? Or give the inputs with --input",
        server.host, server.port, call.target, model,
        r.status == 0 ? "no answer" : std::to_string(r.status),
        r.status == 0 ? r.error : r.body.substr(0, 300)));
  }
  std::vector<InputSpec> out;
  try {
    const json j = ParseBoundedJson(r.body);
    if (protocol == LoadProtocol::kKserveV2) {
      for (const json& in : j.at("inputs")) {
        out.push_back({in.at("name").get<std::string>(), in.at("datatype").get<std::string>(),
                       Concrete(in.at("shape"), batch)});
      }
    } else {
      const json& sig = j.at("metadata").at("signature_def").at("signature_def");
      const json* def =
          sig.contains("serving_default") ? &sig["serving_default"] : &sig.begin().value();
      for (const auto& [name, in] : def->at("inputs").items()) {
        json dims = json::array();
        for (const json& d : in.at("tensor_shape").at("dim")) dims.push_back(d.at("size"));
        out.push_back({name, in.value("dtype", "DT_FLOAT") == "DT_INT64" ? "INT64" : "FP32",
                       Concrete(dims, batch)});
      }
    }
  } catch (const std::exception& e) {
    throw UsageError(
        fmt::format("the server's metadata for model '{}' is not what this "
                    "protocol returns ({}); give the inputs with --input",
                    model, e.what()));
  }
  return out;
}

std::vector<std::string> InputBytes(const std::vector<InputSpec>& inputs, std::uint64_t seed) {
  std::uint64_t state = seed;
  std::vector<std::string> out;
  for (const auto& s : inputs) {
    std::string raw;
    raw.reserve(static_cast<std::size_t>(Elements(s)) * (s.datatype == "INT64" ? 8 : 4));
    for (std::int64_t i = 0; i < Elements(s); ++i) {
      const std::uint64_t bits = SplitMix(state);
      if (s.datatype == "INT64") {
        const auto v = static_cast<std::int64_t>(bits % 10);
        raw.append(reinterpret_cast<const char*>(&v), sizeof v);
      } else {
        const float v = static_cast<float>(static_cast<double>(bits >> 40) / 16777216.0);
        raw.append(reinterpret_cast<const char*>(&v), sizeof v);
      }
    }
    out.push_back(std::move(raw));
  }
  return out;
}

LoadRequest BuildInferRequest(LoadProtocol protocol, const Url& server, const std::string& model,
                              const std::string& version, const std::vector<InputSpec>& inputs,
                              bool binary, std::uint64_t seed) {
  LoadRequest r;
  r.server = server;
  r.method = "POST";
  std::vector<std::string> raws = InputBytes(inputs, seed);
  std::vector<json> flats;
  if (!binary) {
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      json flat = json::array();
      const std::string& raw = raws[k];
      for (std::size_t at = 0; at < raw.size();) {
        if (inputs[k].datatype == "INT64") {
          std::int64_t v = 0;
          std::memcpy(&v, raw.data() + at, sizeof v);
          flat.push_back(v);
          at += sizeof v;
        } else {
          float v = 0;
          std::memcpy(&v, raw.data() + at, sizeof v);
          at += sizeof v;
          // The FP32 value in its shortest text ("0.4758421", not the 17 digits of the double
          // it widens to): what a client that knows its tensor is FP32 sends, 1.6 MB instead
          // of 2.9 MB for a 224² image. The double read back from that text prints as it.
          const std::string text = fmt::format("{}", v);
          double shortest = v;
          std::from_chars(text.data(), text.data() + text.size(), shortest);
          flat.push_back(shortest);
        }
      }
      flats.push_back(std::move(flat));
    }
  }
  const std::string versioned = version.empty() ? "" : "/versions/" + version;
  if (protocol == LoadProtocol::kKserveV2) {
    r.target = "/v2/models/" + model + versioned + "/infer";
    json body = {{"inputs", json::array()}};
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      json in = {
          {"name", inputs[i].name}, {"shape", inputs[i].shape}, {"datatype", inputs[i].datatype}};
      if (binary) {
        in["parameters"] = {{"binary_data_size", raws[i].size()}};
      } else {
        in["data"] = std::move(flats[i]);
      }
      body["inputs"].push_back(std::move(in));
    }
    if (binary) {
      body["parameters"] = {{"binary_data_output", true}};
      r.body = body.dump();
      r.headers.emplace_back("Inference-Header-Content-Length", std::to_string(r.body.size()));
      for (const auto& raw : raws) r.body += raw;
      r.content_type = "application/octet-stream";
    } else {
      r.body = body.dump();
    }
    return r;
  }
  if (binary)
    throw UsageError("--binary is the KServe v2 binary tensor extension; use --protocol kserve");
  if (protocol == LoadProtocol::kTfServing) {
    r.target = "/v1/models/" + model + versioned + ":predict";
    json body;
    if (inputs.size() == 1) {
      body["inputs"] = Nest(flats[0], 0, inputs[0].shape, 0);
    } else {
      body["inputs"] = json::object();
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        body["inputs"][inputs[i].name] = Nest(flats[i], 0, inputs[i].shape, 0);
      }
    }
    r.body = body.dump();
    return r;
  }
  if (protocol == LoadProtocol::kTorchServe) {
    r.target = "/predictions/" + model + (version.empty() ? "" : "/" + version);
    if (inputs.size() == 1) {
      r.body = Nest(flats[0], 0, inputs[0].shape, 0).dump();
    } else {
      json body = json::object();
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        body[inputs[i].name] = Nest(flats[i], 0, inputs[i].shape, 0);
      }
      r.body = body.dump();
    }
    return r;
  }
  throw UsageError("--protocol raw sends the URL as given; it builds no inference request");
}

}  // namespace fwbench::loadgen
