#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "backends/served/load_served_model.h"
#include "backends/served/serve_threads.h"
#include "backends/served/served_onnx.h"
#include "cli/commands.h"
#include "core/env_fingerprint.h"
#include "core/error.h"
#include "core/version.h"
#include "serve/compute_thread.h"
#include "serve/file_limit.h"
#include "serve/grpc_server.h"
#include "serve/http_server.h"
#include "serve/inference_service.h"
#include "serve/model_repository.h"

namespace fwbench::cli {

std::string BearerTokenFromEnv(const std::string& variable) {
  if (variable.empty()) return "";
  const char* v = std::getenv(variable.c_str());
  if (v == nullptr || *v == '\0') {
    throw UsageError(
        fmt::format("--token-env {}: that environment variable is empty or unset", variable));
  }
  return v;
}

Command AddServeCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Serve the TorchScript (LibTorch) and ONNX (OpenVINO or OpenCV DNN) models of a model "
      "repository over "
      "HTTP: KServe v2 (JSON and binary "
      "tensors), TF Serving REST and TorchServe-style /predictions, with dynamic batching and "
      "Prometheus /metrics; with --grpc-port, KServe v2's GRPCInferenceService and TF Serving's "
      "PredictionService.Predict over gRPC too. Layout: "
      "REPO/NAME/config.toml, REPO/NAME/1/model.pt, … (`fwbench "
      "deploy` writes one). Ready (/v2/health/ready) after every model's warm-up; SIGINT or "
      "SIGTERM drains in-flight requests, then stops.");
  struct Args {
    std::filesystem::path repository;
    std::string host = "127.0.0.1";
    std::uint16_t port = 8000;
    int http_threads = 2;
    int decode_threads = 2;
    int compute_threads = 0;
    std::string device = "cpu";
    std::size_t max_body_bytes = 64u << 20;
    int read_timeout_ms = 30'000;
    int drain_ms = 10'000;
    std::string token_env;
    int max_batch_size = 0;
    int max_queue_delay_us = -1;
    int max_queue = 0;
    std::size_t max_connections = 4096;
    std::filesystem::path port_file;
    int grpc_port = -1;
    std::filesystem::path grpc_port_file;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("repository", a->repository, "Model repository folder")->required();
  cmd->add_option("--host", a->host,
                  "Address to bind (loopback by default; 0.0.0.0 opens it to the network)")
      ->capture_default_str();
  cmd->add_option("--port", a->port, "Port (0: any free port, printed)")->capture_default_str();
  cmd->add_option("--threads", a->compute_threads,
                  "Compute threads of the models (LibTorch's intra-op pool, OpenCV DNN's), one "
                  "pool for the process; 0: every core this process may use")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  cmd->add_option("--http-threads", a->http_threads, "Threads for HTTP I/O")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--decode-threads", a->decode_threads,
                  "Threads that decode request bodies of 64 KB or more (JSON, binary tensors), "
                  "so that a large body never holds up the HTTP threads (health checks)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--max-connections", a->max_connections,
                  "Connections held open at once; more are closed as they arrive (capped by "
                  "the open-file limit, which serve raises to its hard maximum)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("--device", a->device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--max-body-bytes", a->max_body_bytes, "Larger request bodies get 413")
      ->capture_default_str();
  cmd->add_option("--read-timeout-ms", a->read_timeout_ms,
                  "A request must arrive within this (slow clients get 408; idle keep-alive "
                  "connections close)")
      ->check(CLI::Range(1, 3'600'000))
      ->capture_default_str();
  cmd->add_option("--drain-ms", a->drain_ms, "On SIGINT/SIGTERM, how long to let requests finish")
      ->capture_default_str();
  cmd->add_option("--token-env", a->token_env,
                  "Name of an environment variable holding a bearer token; every endpoint but "
                  "the health checks then needs 'Authorization: Bearer TOKEN'");
  cmd->add_option("--max-batch-size", a->max_batch_size,
                  "Override every model's batching.max_batch_size (1: batching off)")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--max-queue-delay-us", a->max_queue_delay_us,
                  "Override every model's batching.max_queue_delay_us")
      ->check(CLI::Range(0, 10'000'000));
  cmd->add_option("--max-queue", a->max_queue, "Override every model's batching.max_queue")
      ->check(CLI::Range(1, 1'000'000));
  cmd->add_option("--port-file", a->port_file,
                  "Write the bound port here once listening (for scripts using --port 0)");
  cmd->add_option("--grpc-port", a->grpc_port,
                  "Also serve gRPC on this port of --host: KServe v2 "
                  "(inference.GRPCInferenceService: health, metadata, ModelInfer) and TF "
                  "Serving's tensorflow.serving.PredictionService/Predict; 0: any free port, "
                  "printed. Off unless given (Triton's gRPC port is 8001)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option(
      "--grpc-port-file", a->grpc_port_file,
      "Write the bound gRPC port here once listening (for scripts using --grpc-port 0)");
  return [a]() {
    auto models = serve::ScanRepository(a->repository);
    const std::string token = BearerTokenFromEnv(a->token_env);
    serve::ServiceOptions options;
    options.bearer_token = token;
    options.server_version = FwbenchVersion();
    options.decode_threads = a->decode_threads;
    auto service = std::make_shared<serve::InferenceService>(options);
    const int threads = a->compute_threads > 0 ? a->compute_threads : UsableCoreCount();
    // Models are configured, loaded, warmed up, run and released on one thread (compute_thread.h).
    const auto compute = std::make_shared<serve::ComputeThread>();
    const std::string pools =
        compute->Call([threads] { return DescribePools(ConfigureServeThreads(threads)); });
    std::cerr << fmt::format("serve: compute threads: {}\n", pools);
    for (auto& m : models) {
      if (a->max_batch_size > 0)
        m.config.batching.max_batch_size = static_cast<std::size_t>(a->max_batch_size);
      if (a->max_queue_delay_us >= 0)
        m.config.batching.max_queue_delay_ns = std::int64_t{a->max_queue_delay_us} * 1000;
      if (a->max_queue > 0) m.config.batching.max_queue = static_cast<std::size_t>(a->max_queue);
      // The runtime an ONNX model gets, named in its metadata's platform.
      if (m.config.platform == "onnx" && m.config.onnx_runtime.empty()) {
        m.config.onnx_runtime = DefaultOnnxRuntime();
      }
      for (const auto& v : m.versions) {
        auto model = compute->Call([&] { return LoadServedModel(v.file, m.config, a->device); });
        service->AddModel(m.name, v.version, m.config,
                          serve::OnComputeThread(std::move(model), compute));
        std::cerr << fmt::format("serve: loaded {} version {} ({})\n", m.name, v.version,
                                 v.file.string());
      }
    }
    service->CheckModelsAgainstConfigs();
    serve::HttpServerOptions http;
    http.address = a->host;
    http.port = a->port;
    http.threads = a->http_threads;
    http.max_body_bytes = a->max_body_bytes;
    http.read_timeout = std::chrono::milliseconds(a->read_timeout_ms);
    const serve::ConnectionLimit limit = serve::FitConnectionsToFileLimit(a->max_connections);
    http.max_connections = limit.connections;
    if (!limit.note.empty()) std::cerr << "serve: " << limit.note << "\n";
    std::unique_ptr<serve::HttpServer> server;
    try {
      server = std::make_unique<serve::HttpServer>(
          http, [service](serve::HttpRequest r, serve::Reply reply) {
            service->Handle(std::move(r), std::move(reply));
          });
    } catch (const std::exception& e) {
      throw UsageError(e.what());  // a bad --host or a busy --port: the user picks another
    }
    server->Start();
    const auto port = server->port();
    if (!a->port_file.empty()) {
      std::ofstream(a->port_file) << port << "\n";
    }
    std::cerr << fmt::format("serve: listening on http://{}:{} (warming up)\n", a->host, port);
    std::unique_ptr<serve::GrpcServer> grpc;
    if (a->grpc_port >= 0) {
      serve::GrpcServerOptions g;
      g.address = a->host;
      g.port = a->grpc_port;
      g.max_message_bytes = a->max_body_bytes;
      g.server_version = FwbenchVersion();
      try {
        grpc = std::make_unique<serve::GrpcServer>(*service, g);
      } catch (const std::exception& e) {
        throw UsageError(fmt::format("--grpc-port {}: {}", a->grpc_port, e.what()));
      }
      if (!a->grpc_port_file.empty()) std::ofstream(a->grpc_port_file) << grpc->port() << "\n";
      std::cerr << fmt::format(
          "serve: listening for gRPC on {}:{} (KServe v2 "
          "inference.GRPCInferenceService)\n",
          a->host, grpc->port());
    }
    service->WarmUpAndMarkReady();
    std::cerr << fmt::format("serve: ready: http://{}:{}/v2/health/ready{}\n", a->host, port,
                             token.empty() ? "" : " (bearer token required)");
    server->WaitForStopSignal();
    std::cerr << "serve: stopping; draining in-flight requests\n";
    const auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(a->drain_ms);
    // gRPC refuses new calls at once and waits for its calls in flight while HTTP drains; its
    // shutdown returns once each was answered, which the service's Stop makes sure of.
    std::jthread grpc_stopping;
    if (grpc) grpc_stopping = std::jthread([&grpc, deadline] { grpc->Shutdown(deadline); });
    std::size_t left = server->Shutdown(std::chrono::milliseconds(a->drain_ms));
    while (grpc && grpc->InFlight() > 0 && std::chrono::system_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (grpc) left += grpc->InFlight();
    service->Stop();
    if (grpc_stopping.joinable()) grpc_stopping.join();
    std::cerr << fmt::format("serve: stopped ({} requests still in flight at the drain deadline)\n",
                             left);
    return left == 0 ? kExitOk : kExitFailure;
  };
}

}  // namespace fwbench::cli
