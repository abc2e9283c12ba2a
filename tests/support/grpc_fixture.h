#pragma once
// TestServer (serve_fixture.h) with KServe v2 over gRPC beside its HTTP, on a free loopback port.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "protocols/kserve_v2_grpc.grpc.pb.h"
#include "serve/grpc_server.h"
#include "support/serve_fixture.h"

namespace fwbench::testing {

struct TestGrpcServer {
  explicit TestGrpcServer(serve::ModelConfig config = DoublingConfig(),
                          serve::ServiceOptions options = {}, bool ready = true)
      : http(std::move(config), {}, std::move(options), ready) {
    serve::GrpcServerOptions g;
    g.port = 0;
    g.server_version = "test";
    server = std::make_unique<serve::GrpcServer>(*http.service, g);
    target = "127.0.0.1:" + std::to_string(server->port());
    stub = inference::GRPCInferenceService::NewStub(
        grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  }
  ~TestGrpcServer() {
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
  TestServer http;
  std::unique_ptr<serve::GrpcServer> server;
  std::string target;  // host:port
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub;
};

}  // namespace fwbench::testing
