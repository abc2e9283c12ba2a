#pragma once
// KServe v2's GRPCInferenceService beside the HTTP server, on the same InferenceService: the
// same models, batchers, bearer token, metrics and error messages. Health, server and model
// metadata, and ModelInfer (raw or typed tensor contents); tritonclient's gRPC client and ghz
// call it as they call Triton. On the same port, TF Serving's PredictionService.Predict, as
// tensorflow-serving-api's stubs call TF Serving. gRPC's callback API: a call costs no thread while
// its batch waits or runs, and is answered from the batcher's thread.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "serve/inference_service.h"

namespace grpc {
class Server;
}

namespace fwbench::serve {

struct GrpcServerOptions {
  std::string address = "127.0.0.1";
  int port = 8001;  // 0: any free port
  std::size_t max_message_bytes = 64u << 20;
  std::string server_version;
};

class GrpcServer {
 public:
  // Listens at once. Throws std::runtime_error when the address cannot be bound.
  GrpcServer(InferenceService& service, const GrpcServerOptions& options);
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  int port() const { return port_; }
  // Inference calls not yet answered.
  std::size_t InFlight() const { return in_flight_->load(); }
  // Refuses new calls, lets those in flight finish until `deadline`, then cancels them; returns
  // once every call was answered (the service's Stop answers what its batchers still hold).
  void Shutdown(std::chrono::system_clock::time_point deadline);

 private:
  class Service;
  class TfService;
  std::shared_ptr<std::atomic<std::size_t>> in_flight_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<TfService> tf_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace fwbench::serve
