#include "serve/inference_service.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include <stdexcept>

#include "serve/routes.h"

namespace fwbench::serve {

namespace {

using nlohmann::json;

const char* ProtocolLabel(Protocol p) {
  switch (p) {
    case Protocol::kKserveV2:
      return "kserve_v2";
    case Protocol::kTfServing:
      return "tf_serving";
    case Protocol::kTorchServe:
      return "torchserve";
  }
  return "?";
}

Protocol ProtocolOf(Endpoint e) {
  switch (e) {
    case Endpoint::kTfModelStatus:
    case Endpoint::kTfModelMetadata:
    case Endpoint::kTfPredict:
      return Protocol::kTfServing;
    case Endpoint::kTorchServePing:
    case Endpoint::kTorchServePredict:
      return Protocol::kTorchServe;
    default:
      return Protocol::kKserveV2;
  }
}

// A best guess from the path alone, for errors raised before a route matched.
Protocol ProtocolOfPath(const std::string& target) {
  if (target.rfind("/v1/", 0) == 0) return Protocol::kTfServing;
  if (target.rfind("/predictions", 0) == 0 || target.rfind("/ping", 0) == 0) {
    return Protocol::kTorchServe;
  }
  return Protocol::kKserveV2;
}

HttpResponse Json(int status, json body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump();
  return r;
}

json TensorsJson(const std::vector<TensorSignature>& list) {
  json out = json::array();
  for (const auto& s : list) {
    out.push_back({{"name", s.name}, {"datatype", s.datatype}, {"shape", s.shape}});
  }
  return out;
}

json TfSignature(const std::vector<TensorSignature>& list) {
  json out = json::object();
  for (const auto& s : list) {
    json dims = json::array();
    for (const auto d : s.shape) dims.push_back({{"size", std::to_string(d)}, {"name", ""}});
    out[s.name] = {{"dtype", s.datatype == "INT64" ? "DT_INT64" : "DT_FLOAT"},
                   {"tensor_shape", {{"dim", dims}, {"unknown_rank", false}}},
                   {"name", s.name}};
  }
  return out;
}

InputTensor Zeros(const TensorSignature& s, std::int64_t batch) {
  InputTensor t;
  t.name = s.name;
  t.datatype = s.datatype;
  std::int64_t n = 1;
  for (std::size_t i = 0; i < s.shape.size(); ++i) {
    const std::int64_t d = i == 0 ? batch : (s.shape[i] < 0 ? 1 : s.shape[i]);
    t.shape.push_back(d);
    n *= d;
  }
  if (s.datatype == "INT64") {
    t.int64.assign(static_cast<std::size_t>(n), 0);
  } else {
    t.fp32.assign(static_cast<std::size_t>(n), 0.0f);
  }
  return t;
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

}  // namespace

InferenceService::InferenceService(ServiceOptions options) : options_(std::move(options)) {}

InferenceService::~InferenceService() { Stop(); }

void InferenceService::AddModel(const std::string& name, const std::string& version,
                                const ModelConfig& config, std::shared_ptr<ServedModel> model) {
  Model& m = models_[name];
  m.name = name;
  Version v;
  v.version = version;
  v.config = config;
  v.model = model;
  v.batcher = std::make_unique<ModelBatcher>(name, std::move(model), config.batching, &metrics_);
  m.versions[std::stoll(version)] = std::move(v);
}

void InferenceService::WarmUpAndMarkReady() {
  for (const auto& [name, m] : models_) {
    for (const auto& [number, v] : m.versions) {
      for (const std::int64_t batch :
           {std::int64_t{1}, static_cast<std::int64_t>(v.config.batching.max_batch_size)}) {
        InferRequest r;
        for (const auto& s : v.config.signature.inputs) r.inputs.push_back(Zeros(s, batch));
        try {
          const auto out = v.model->RunBatch({&r});
          if (out.size() != 1 || out[0].size() != v.config.signature.outputs.size()) {
            throw std::runtime_error(fmt::format("it returned {} outputs; config.toml lists {}",
                                                 out.empty() ? 0 : out[0].size(),
                                                 v.config.signature.outputs.size()));
          }
        } catch (const std::exception& e) {
          throw std::runtime_error(fmt::format(
              "model '{}' version {} failed its warm-up at batch size {} on zeros shaped as its "
              "config.toml says: {}",
              name, v.version, batch, e.what()));
        }
      }
    }
  }
  ready_ = true;
}

void InferenceService::Stop() {
  stopping_ = true;
  for (auto& [name, m] : models_) {
    for (auto& [number, v] : m.versions) v.batcher->Stop();
  }
}

const InferenceService::Version& InferenceService::Find(const std::string& name,
                                                        const std::string& version) const {
  const auto it = models_.find(name);
  if (it == models_.end()) {
    std::vector<std::string> names;
    for (const auto& [n, m] : models_) names.push_back(n);
    throw RequestError(404, fmt::format("model '{}' is not served here; models: {}", name,
                                        fmt::join(names, ", ")));
  }
  const Model& m = it->second;
  if (version.empty()) return m.versions.rbegin()->second;
  long long number = -1;
  try {
    std::size_t used = 0;
    number = std::stoll(version, &used);
    if (used != version.size()) number = -1;
  } catch (const std::exception&) {
    number = -1;
  }
  const auto v = m.versions.find(number);
  if (v == m.versions.end()) {
    std::vector<std::string> versions;
    for (const auto& [n, ver] : m.versions) versions.push_back(ver.version);
    throw RequestError(404, fmt::format("model '{}' has no version '{}'; versions: {}", name,
                                        version, fmt::join(versions, ", ")));
  }
  return v->second;
}

void InferenceService::Handle(HttpRequest request, Reply reply) {
  Protocol protocol = ProtocolOfPath(request.target);
  std::string model_label = "";
  const auto send = [&](HttpResponse r) {
    metrics_.CountRequest(model_label, ProtocolLabel(protocol), r.status);
    reply.Send(std::move(r));
  };
  try {
    const Route route = MatchRoute(request.method, request.target);
    protocol = ProtocolOf(route.endpoint);
    const bool open = route.endpoint == Endpoint::kLive || route.endpoint == Endpoint::kReady ||
                      route.endpoint == Endpoint::kTorchServePing;
    if (!options_.bearer_token.empty() && !open) {
      const std::string auth = request.Header("authorization");
      if (!ConstantTimeEquals(auth, "Bearer " + options_.bearer_token)) {
        HttpResponse r;
        r.status = 401;
        r.body = ErrorBody(protocol, 401,
                           auth.empty() ? "this server needs an 'Authorization: Bearer TOKEN' "
                                          "header"
                                        : "the bearer token is not valid");
        r.headers.emplace_back("WWW-Authenticate", "Bearer");
        return send(std::move(r));
      }
    }
    switch (route.endpoint) {
      case Endpoint::kLive:
        return send(Json(200, {{"live", true}}));
      case Endpoint::kReady:
        return send(Json(ready_ ? 200 : 503, {{"ready", ready_.load()}}));
      case Endpoint::kTorchServePing:
        return send(Json(ready_ ? 200 : 503, {{"status", ready_ ? "Healthy" : "Unhealthy"}}));
      case Endpoint::kServerMetadata:
        return send(Json(200, {{"name", "fwbench"},
                               {"version", options_.server_version},
                               {"extensions", {"binary_tensor_data"}}}));
      case Endpoint::kMetrics: {
        HttpResponse r;
        r.content_type = "text/plain; version=0.0.4";
        r.body = metrics_.Render();
        reply.Send(std::move(r));  // not counted: scrapes would drown the request counts
        return;
      }
      default:
        break;
    }
    const Version& v = Find(route.model, route.version);
    const auto& sig = v.config.signature;
    model_label = route.model;
    switch (route.endpoint) {
      case Endpoint::kModelMetadata: {
        json versions = json::array();
        for (const auto& [n, ver] : models_.at(route.model).versions)
          versions.push_back(ver.version);
        return send(Json(200, {{"name", route.model},
                               {"versions", versions},
                               {"platform", v.config.platform == "onnx" ? "onnx_opencv_dnn"
                                                                        : "pytorch_torchscript"},
                               {"inputs", TensorsJson(sig.inputs)},
                               {"outputs", TensorsJson(sig.outputs)}}));
      }
      case Endpoint::kModelReady:
        return send(Json(ready_ ? 200 : 503, {{"name", route.model}, {"ready", ready_.load()}}));
      case Endpoint::kTfModelStatus: {
        json list = json::array();
        for (const auto& [n, ver] : models_.at(route.model).versions) {
          if (!route.version.empty() && ver.version != v.version) continue;
          list.push_back({{"version", ver.version},
                          {"state", ready_ ? "AVAILABLE" : "LOADING"},
                          {"status", {{"error_code", "OK"}, {"error_message", ""}}}});
        }
        return send(Json(200, {{"model_version_status", list}}));
      }
      case Endpoint::kTfModelMetadata:
        return send(
            Json(200, {{"model_spec",
                        {{"name", route.model}, {"signature_name", ""}, {"version", v.version}}},
                       {"metadata",
                        {{"signature_def",
                          {{"signature_def",
                            {{"serving_default",
                              {{"inputs", TfSignature(sig.inputs)},
                               {"outputs", TfSignature(sig.outputs)},
                               {"method_name", "tensorflow/serving/predict"}}}}}}}}}}));
      default:
        break;
    }
    // Inference.
    if (!ready_ || stopping_) {
      throw RequestError(503, stopping_ ? "the server is shutting down"
                                        : "the server is warming up; /v2/health/ready says when "
                                          "it is ready");
    }
    InferRequest parsed;
    if (route.endpoint == Endpoint::kKserveInfer) {
      std::optional<std::size_t> json_length;
      const std::string h = request.Header("inference-header-content-length");
      if (!h.empty()) {
        try {
          std::size_t used = 0;
          json_length = std::stoull(h, &used);
          if (used != h.size()) throw std::invalid_argument(h);
        } catch (const std::exception&) {
          throw RequestError(400, "Inference-Header-Content-Length must be a byte count, got '" +
                                      h.substr(0, 32) + "'");
        }
      }
      parsed = ParseKserveV2Request(request.body, sig, json_length);
    } else if (route.endpoint == Endpoint::kTfPredict) {
      parsed = ParseTfServingRequest(request.body, sig);
    } else {
      // TorchServe-style: the body is the input tensor (a nested list, batch first) or an
      // object of named inputs, as TF Serving's "inputs" would hold.
      std::string wrapped = "{\"inputs\":";
      wrapped.append(request.body);
      wrapped.push_back('}');
      parsed = ParseTfServingRequest(wrapped, sig);
    }
    if (sig.inputs.size() > 1) {
      for (const auto& t : parsed.inputs) {
        if (t.shape[0] != parsed.inputs[0].shape[0]) {
          throw RequestError(400, fmt::format("inputs disagree on the batch size ({} has {}, {} "
                                              "has {})",
                                              parsed.inputs[0].name, parsed.inputs[0].shape[0],
                                              t.name, t.shape[0]));
        }
      }
    }
    const std::string name = route.model;
    const std::string version = v.version;
    const std::string id = parsed.id;
    const bool binary = parsed.binary_output;
    const Endpoint endpoint = route.endpoint;
    v.batcher->Submit(std::move(parsed), [this, reply, protocol, name, version, id, binary,
                                          endpoint](BatchOutcome outcome) {
      HttpResponse r;
      r.status = outcome.status;
      try {
        if (outcome.status != 200) {
          r.body = ErrorBody(protocol, outcome.status, outcome.error);
        } else if (endpoint == Endpoint::kKserveInfer && binary) {
          BinaryBody b = KserveV2BinaryResponse(name, version, id, outcome.outputs);
          r.body = std::move(b.body);
          r.content_type = "application/octet-stream";
          r.headers.emplace_back("Inference-Header-Content-Length", std::to_string(b.json_length));
        } else if (endpoint == Endpoint::kKserveInfer) {
          r.body = KserveV2Response(name, version, id, outcome.outputs);
        } else if (endpoint == Endpoint::kTfPredict) {
          r.body = TfServingResponse(outcome.outputs);
        } else {
          r.body = TorchServeResponse(outcome.outputs);
        }
      } catch (const std::exception& e) {
        r.status = 500;
        r.body = ErrorBody(protocol, 500, std::string("internal error: ") + e.what());
      }
      metrics_.CountRequest(name, ProtocolLabel(protocol), r.status);
      reply.Send(std::move(r));
    });
  } catch (const RequestError& e) {
    HttpResponse r;
    r.status = e.status();
    r.body = ErrorBody(protocol, e.status(), e.what());
    send(std::move(r));
  }
}

}  // namespace fwbench::serve
