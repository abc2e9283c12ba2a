#include "serve/grpc_server.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "core/clock.h"
#include "protocols/kserve_v2_grpc.grpc.pb.h"
#include "protocols/tf_serving_predict.grpc.pb.h"
#include "serve/grpc_infer_request.h"

namespace fwbench::serve {

namespace {

constexpr const char* kProtocolLabel = "kserve_v2_grpc";

// The gRPC code for the HTTP status the service decided on (as Triton maps them).
grpc::StatusCode CodeFor(int http_status) {
  switch (http_status) {
    case 200:
      return grpc::StatusCode::OK;
    case 400:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case 401:
      return grpc::StatusCode::UNAUTHENTICATED;
    case 404:
      return grpc::StatusCode::NOT_FOUND;
    case 413:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case 503:
      return grpc::StatusCode::UNAVAILABLE;
    case 504:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    default:
      return http_status >= 500 ? grpc::StatusCode::INTERNAL : grpc::StatusCode::UNKNOWN;
  }
}

std::string Authorization(const grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  const auto it = metadata.find("authorization");
  return it == metadata.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

grpc::Status Unauthenticated(const grpc::CallbackServerContext* context) {
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      Authorization(context).empty()
                          ? "this server needs an 'authorization: Bearer TOKEN' metadata entry"
                          : "the bearer token is not valid");
}

// One inference call of either protocol: behind the bearer token, decoded against the model's
// signature, queued, encoded and answered from the batcher's thread. `request` and `response`
// live until Finish; the service answers exactly once.
template <typename Request, typename Response, typename Decode, typename Encode>
grpc::ServerUnaryReactor* InferCall(InferenceService& service, std::atomic<std::size_t>& in_flight,
                                    const char* protocol, grpc::CallbackServerContext* context,
                                    const Request* request, Response* response,
                                    const std::string& model, const std::string& version,
                                    Decode decode, Encode encode) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!service.Authorized(Authorization(context))) {
    service.metrics().CountRequest(model, protocol, 401);
    reactor->Finish(Unauthenticated(context));
    return reactor;
  }
  ++in_flight;
  service.InferDecoded(
      model, version,
      [request, decode](const ModelSignature& signature) { return decode(*request, signature); },
      [&service, &in_flight, protocol, reactor, request, response, model, encode](
          const BatchOutcome& outcome, const std::string& resolved) {
        int status = outcome.status;
        std::string error = outcome.error;
        if (status == 200) {
          const std::int64_t encode_start = MonotonicNs();
          try {
            encode(*request, model, resolved, outcome.outputs, *response);
            service.metrics().ObserveEncodeSeconds(
                model, static_cast<double>(MonotonicNs() - encode_start) * 1e-9);
          } catch (const std::exception& e) {
            status = 500;
            error = std::string("internal error: ") + e.what();
          }
        }
        service.metrics().CountRequest(model, protocol, status);
        reactor->Finish(status == 200 ? grpc::Status::OK : grpc::Status(CodeFor(status), error));
        --in_flight;
      });
  return reactor;
}

}  // namespace

// TF Serving's PredictionService.Predict on the same models (tensorflow-serving-api's stubs).
class GrpcServer::TfService final : public tensorflow::serving::PredictionService::CallbackService {
 public:
  TfService(InferenceService& service, std::shared_ptr<std::atomic<std::size_t>> in_flight)
      : service_(service), in_flight_(std::move(in_flight)) {}

  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context,
                                    const tensorflow::serving::PredictRequest* request,
                                    tensorflow::serving::PredictResponse* response) override {
    const auto& spec = request->model_spec();
    if (!spec.version_label().empty()) {
      grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "version labels are not served here; give "
                                   "model_spec.version (or neither, for the latest)"));
      return reactor;
    }
    const std::string version = spec.has_version() ? std::to_string(spec.version().value()) : "";
    return InferCall(
        service_, *in_flight_, "tf_serving_grpc", context, request, response, spec.name(), version,
        [](const tensorflow::serving::PredictRequest& r, const ModelSignature& signature) {
          return FromTfServingGrpcRequest(r, signature, /*view_values=*/true);
        },
        [](const tensorflow::serving::PredictRequest& r, const std::string& model,
           const std::string& resolved, const std::vector<OutputTensor>& outputs,
           tensorflow::serving::PredictResponse& out) {
          ToTfServingGrpcResponse(model, resolved, outputs, r.output_filter(), out);
        });
  }

 private:
  InferenceService& service_;
  std::shared_ptr<std::atomic<std::size_t>> in_flight_;
};

class GrpcServer::Service final : public inference::GRPCInferenceService::CallbackService {
 public:
  Service(InferenceService& service, std::string version,
          std::shared_ptr<std::atomic<std::size_t>> in_flight)
      : service_(service), version_(std::move(version)), in_flight_(std::move(in_flight)) {}

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const inference::ServerLiveRequest* /*request*/,
                                       inference::ServerLiveResponse* response) override {
    response->set_live(true);
    return Done(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const inference::ServerReadyRequest* /*request*/,
                                        inference::ServerReadyResponse* response) override {
    response->set_ready(service_.ready());
    return Done(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override {
    // As Triton: a model not served here is not ready, which is no error.
    return Answer(context, [&] {
      try {
        service_.Describe(request->name(), request->version());
        response->set_ready(service_.ready());
      } catch (const RequestError&) {
        response->set_ready(false);
      }
    });
  }

  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest* /*request*/,
                                           inference::ServerMetadataResponse* response) override {
    return Answer(context, [&] {
      response->set_name("fwbench");
      response->set_version(version_);
    });
  }

  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override {
    return Answer(context, [&] {
      const auto info = service_.Describe(request->name(), request->version());
      response->set_name(info.name);
      for (const auto& v : info.versions) response->add_versions(v);
      response->set_platform(info.platform);
      const auto add = [](const TensorSignature& s, auto* t) {
        t->set_name(s.name);
        t->set_datatype(s.datatype);
        for (const auto d : s.shape) t->add_shape(d);
      };
      for (const auto& s : info.signature.inputs) add(s, response->add_inputs());
      for (const auto& s : info.signature.outputs) add(s, response->add_outputs());
    });
  }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override {
    return InferCall(
        service_, *in_flight_, kProtocolLabel, context, request, response, request->model_name(),
        request->model_version(),
        [](const inference::ModelInferRequest& r, const ModelSignature& signature) {
          return FromGrpcRequest(r, signature, /*view_values=*/true);
        },
        [](const inference::ModelInferRequest& r, const std::string& model,
           const std::string& resolved, const std::vector<OutputTensor>& outputs,
           inference::ModelInferResponse& out) {
          ToGrpcResponse(model, resolved, r.id(), outputs, out);
        });
  }

 private:
  static grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context,
                                        const grpc::Status& status) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(status);
    return reactor;
  }

  // Runs `fill` behind the bearer token; a RequestError becomes its gRPC status.
  template <typename Fill>
  grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context, Fill&& fill) {
    if (!service_.Authorized(Authorization(context)))
      return Done(context, Unauthenticated(context));
    try {
      fill();
    } catch (const RequestError& e) {
      return Done(context, grpc::Status(CodeFor(e.status()), e.what()));
    }
    return Done(context, grpc::Status::OK);
  }

  InferenceService& service_;
  std::string version_;
  std::shared_ptr<std::atomic<std::size_t>> in_flight_;
};

GrpcServer::GrpcServer(InferenceService& service, const GrpcServerOptions& options)
    : in_flight_(std::make_shared<std::atomic<std::size_t>>(0)),
      service_(std::make_unique<Service>(service, options.server_version, in_flight_)),
      tf_service_(std::make_unique<TfService>(service, in_flight_)) {
  const std::string address = options.address.find(':') != std::string::npos
                                  ? fmt::format("[{}]:{}", options.address, options.port)
                                  : fmt::format("{}:{}", options.address, options.port);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port_);
  builder.SetMaxReceiveMessageSize(static_cast<int>(
      std::min<std::size_t>(options.max_message_bytes, std::numeric_limits<int>::max())));
  builder.SetMaxSendMessageSize(-1);
  // gRPC binds with SO_REUSEPORT unless told not to: a second server on a busy port would share
  // it and take half its calls, where HTTP's bind fails with a clear message.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(service_.get());
  builder.RegisterService(tf_service_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    throw std::runtime_error(fmt::format(
        "cannot listen for gRPC on {} (the port is taken or the address is not this machine's)",
        address));
  }
}

GrpcServer::~GrpcServer() {
  if (server_ && !shut_down_) Shutdown(std::chrono::system_clock::now());
}

void GrpcServer::Shutdown(std::chrono::system_clock::time_point deadline) {
  shut_down_ = true;
  server_->Shutdown(deadline);
  server_->Wait();
}

}  // namespace fwbench::serve
