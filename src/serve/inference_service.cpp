#include "serve/inference_service.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "core/clock.h"
#include "core/error.h"
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

HttpResponse Json(int status, const json& body) {
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

const char* PlatformName(const ModelConfig& config) {
  if (config.platform == "onnx") {
    return config.onnx_runtime == "openvino" ? "onnx_openvino" : "onnx_opencv_dnn";
  }
  return config.platform == "aoti" ? "pytorch_aotinductor" : "pytorch_torchscript";
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

// The token of "Bearer TOKEN"; the scheme's name is case-insensitive (RFC 9110 §11.1), so
// "bearer TOKEN" is the same. Empty when the header holds no bearer token.
std::string BearerToken(const std::string& authorization) {
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size() || authorization[kScheme.size()] != ' ') return {};
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return {};
  }
  const std::size_t token = authorization.find_first_not_of(' ', kScheme.size());
  return token == std::string::npos ? std::string() : authorization.substr(token);
}

}  // namespace

InferenceService::InferenceService(ServiceOptions options)
    : options_(std::move(options)),
      decode_pool_(std::make_unique<boost::asio::thread_pool>(
          static_cast<std::size_t>(std::max(1, options_.decode_threads)))) {}

InferenceService::~InferenceService() {
  Stop();
  // Decodes still queued run to their end (their answers go nowhere once the server stopped);
  // none may outlive the models they read.
  decode_pool_->join();
}

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

void InferenceService::CheckModelsAgainstConfigs() const {
  for (const auto& [name, m] : models_) {
    for (const auto& [number, v] : m.versions) RunZeros(name, v, 1);
  }
}

void InferenceService::WarmUpAndMarkReady() {
  for (const auto& [name, m] : models_) {
    for (const auto& [number, v] : m.versions) {
      RunZeros(name, v, 1);
      RunZeros(name, v, static_cast<std::int64_t>(v.config.batching.max_batch_size));
    }
  }
  ready_ = true;
}

void InferenceService::RunZeros(const std::string& name, const Version& v,
                                std::int64_t batch) const {
  const std::string config =
      v.config.source.empty() ? std::string("its config") : v.config.source.string();
  const auto& declared = v.config.signature.outputs;
  InferRequest r;
  for (const auto& s : v.config.signature.inputs) r.inputs.push_back(Zeros(s, batch));
  std::vector<std::vector<OutputTensor>> out;
  try {
    out = v.model->RunBatch({&r});
  } catch (const std::exception& e) {
    throw UsageError(fmt::format(
        "model '{}' version {} failed on a batch of {} zeros shaped as {} says ([[inputs]]): {}",
        name, v.version, batch, config, e.what()));
  }
  if (out.size() != 1 || out[0].size() != declared.size()) {
    throw UsageError(
        fmt::format("model '{}' version {} returned {} outputs; {} lists {} "
                    "([[outputs]])",
                    name, v.version, out.empty() ? 0 : out[0].size(), config, declared.size()));
  }
  for (std::size_t i = 0; i < declared.size(); ++i) {
    const auto& got = out[0][i].shape;
    bool same = got.size() == declared[i].shape.size() && !got.empty() && got[0] == batch;
    for (std::size_t d = 1; same && d < got.size(); ++d) {
      same = declared[i].shape[d] < 0 || declared[i].shape[d] == got[d];
    }
    if (!same) {
      throw UsageError(fmt::format(
          "{}: outputs[{}].shape is [{}], but model '{}' version {} returns [{}] for a batch of "
          "{}; declare the shape the model returns (-1 for the batch dimension)",
          config, i, fmt::join(declared[i].shape, ", "), name, v.version, fmt::join(got, ", "),
          batch));
    }
  }
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
    if (!open) {
      const std::string auth = request.Header("authorization");
      if (!Authorized(auth)) {
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
                               {"platform", PlatformName(v.config)},
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
    CheckAcceptingInference();
    if (request.body.size() < options_.decode_inline_below_bytes) {
      return Infer(route, v, request, reply);
    }
    // The version stays valid: models_ is fixed once the server is ready.
    boost::asio::post(*decode_pool_, [this, route, &v, request = std::move(request), reply] {
      Infer(route, v, request, reply);
    });
  } catch (const RequestError& e) {
    HttpResponse r;
    r.status = e.status();
    r.body = ErrorBody(protocol, e.status(), e.what());
    send(std::move(r));
  }
}

void InferenceService::CountAndSend(const Reply& reply, const std::string& model,
                                    const char* protocol, HttpResponse response) {
  metrics_.CountRequest(model, protocol, response.status);
  reply.Send(std::move(response));
}

void InferenceService::Infer(const Route& route, const Version& v, const HttpRequest& request,
                             const Reply& reply) {
  const Protocol protocol = ProtocolOf(route.endpoint);
  const auto& sig = v.config.signature;
  try {
    const std::int64_t decode_start = MonotonicNs();
    InferRequest parsed;
    if (route.endpoint == Endpoint::kKserveInfer) {
      std::optional<std::size_t> json_length;
      const std::string h = request.Header("inference-header-content-length");
      if (!h.empty()) {
        json_length = ParseByteCount(h);
        if (!json_length) {
          throw RequestError(400, "Inference-Header-Content-Length must be a byte count, got '" +
                                      h.substr(0, 32) + "'");
        }
      }
      parsed = ParseKserveV2Request(request.body, sig, json_length, request.body_buffer);
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
    const std::string name = route.model;
    const std::string version = v.version;
    const std::string id = parsed.id;
    const bool binary = parsed.binary_output;
    const Endpoint endpoint = route.endpoint;
    Queue(name, v, std::move(parsed), decode_start,
          [this, reply, protocol, name, version, id, binary, endpoint](BatchOutcome outcome) {
            HttpResponse r;
            r.status = outcome.status;
            const std::int64_t encode_start = MonotonicNs();
            try {
              if (outcome.status != 200) {
                r.body = ErrorBody(protocol, outcome.status, outcome.error);
              } else if (endpoint == Endpoint::kKserveInfer && binary) {
                // The tensors go out as the model left them; the response keeps them alive.
                auto outputs =
                    std::make_shared<const std::vector<OutputTensor>>(std::move(outcome.outputs));
                BinaryBody b = KserveV2BinaryResponse(name, version, id, *outputs);
                r.content_type = "application/octet-stream";
                r.headers.emplace_back("Inference-Header-Content-Length",
                                       std::to_string(b.json.size()));
                r.body = std::move(b.json);
                r.tail = std::move(b.tensors);
                r.tail_owner = std::move(outputs);
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
            if (r.status == 200) {
              metrics_.ObserveEncodeSeconds(
                  name, static_cast<double>(MonotonicNs() - encode_start) * 1e-9);
            }
            CountAndSend(reply, name, ProtocolLabel(protocol), std::move(r));
          });
  } catch (const RequestError& e) {
    HttpResponse r;
    r.status = e.status();
    r.body = ErrorBody(protocol, e.status(), e.what());
    CountAndSend(reply, route.model, ProtocolLabel(protocol), std::move(r));
  } catch (const std::exception& e) {
    // Off the HTTP thread nothing else would catch it: the reply would be dropped as a 500
    // without the reason.
    HttpResponse r;
    r.status = 500;
    r.body = ErrorBody(protocol, 500, std::string("internal error: ") + e.what());
    CountAndSend(reply, route.model, ProtocolLabel(protocol), std::move(r));
  }
}

void InferenceService::CheckAcceptingInference() const {
  if (!ready_ || stopping_) {
    throw RequestError(503, stopping_ ? "the server is shutting down"
                                      : "the server is warming up; its readiness check (HTTP "
                                        "/v2/health/ready, gRPC ServerReady) says when it is "
                                        "ready");
  }
}

void InferenceService::Queue(const std::string& model, const Version& v, InferRequest parsed,
                             std::int64_t decode_start_ns, ModelBatcher::Done done) {
  for (const auto& t : parsed.inputs) {
    if (!t.shape.empty() && !parsed.inputs[0].shape.empty() &&
        t.shape[0] != parsed.inputs[0].shape[0]) {
      throw RequestError(
          400, fmt::format("inputs disagree on the batch size ({} has {}, {} has "
                           "{})",
                           parsed.inputs[0].name, parsed.inputs[0].shape[0], t.name, t.shape[0]));
    }
  }
  metrics_.ObserveDecodeSeconds(model, static_cast<double>(MonotonicNs() - decode_start_ns) * 1e-9);
  v.batcher->Submit(std::move(parsed), std::move(done));
}

InferenceService::ModelInfo InferenceService::Describe(const std::string& model,
                                                       const std::string& version) const {
  const Version& v = Find(model, version);
  ModelInfo info;
  info.name = model;
  info.version = v.version;
  for (const auto& [n, ver] : models_.at(model).versions) info.versions.push_back(ver.version);
  info.platform = PlatformName(v.config);
  info.signature = v.config.signature;
  return info;
}

bool InferenceService::Authorized(const std::string& authorization) const {
  return options_.bearer_token.empty() ||
         ConstantTimeEquals(BearerToken(authorization), options_.bearer_token);
}

void InferenceService::InferDecoded(
    const std::string& model, const std::string& version,
    const std::function<InferRequest(const ModelSignature&)>& decode, const InferDone& done) {
  std::string resolved;
  try {
    CheckAcceptingInference();
    const Version& v = Find(model, version);
    resolved = v.version;
    const std::int64_t decode_start = MonotonicNs();
    InferRequest parsed = decode(v.config.signature);
    Queue(model, v, std::move(parsed), decode_start,
          [done, resolved](const BatchOutcome& outcome) { done(outcome, resolved); });
  } catch (const RequestError& e) {
    BatchOutcome refused;
    refused.status = e.status();
    refused.error = e.what();
    done(refused, resolved);
  }
}

}  // namespace fwbench::serve
