#pragma once
// One server taken from nothing to a measured endpoint, as a user would: start it, wait until it
// says ready, send the first prediction, put it under load (a closed-loop run and the highest
// open-loop rate whose p99 stays under a bound), stop it with SIGTERM and see it exit cleanly.
#include <filesystem>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "loadgen/protocol_request.h"

namespace fwbench::deploy {

class ServerProcess;

enum class Readiness { kReady, kExited, kTimedOut };

// Polls `url`'s /v2/health/ready (or `path`) until it answers 200 (with `marker` in its body,
// when given), the server process exits, or `timeout_s` passes.
Readiness WaitUntilReady(ServerProcess& server, const loadgen::Url& url, double timeout_s,
                         const std::string& path = "/v2/health/ready",
                         const std::string& marker = "");

struct ServerLaunch {
  std::string name;               // "fwbench-serve (batching)", "fastapi-uvicorn"
  std::vector<std::string> argv;  // starts it listening on `port`
  std::vector<std::pair<std::string, std::string>> env;
  std::uint16_t port = 0;
  // What a user does to get here, one step per entry (the export counts as one).
  std::vector<std::string> steps;
  // How it is asked for predictions (KServe v2 JSON, or TorchServe's /predictions/NAME with the
  // input as a nested list), and when it is ready: GET ready_path on ready_port (0: `port`)
  // answers 200, with ready_marker in the body when given. TorchServe's /ping says "Healthy"
  // while its worker fails to start, so its readiness is a worker READY in the management API.
  loadgen::LoadProtocol protocol = loadgen::LoadProtocol::kKserveV2;
  std::uint16_t ready_port = 0;
  std::string ready_path = "/v2/health/ready";
  std::string ready_marker;
};

// A first prediction in KServe v2's answer form, whatever protocol carried it: TorchServe's
// nested list becomes {"outputs": [{"data": the values, flattened}]}; null when unreadable.
nlohmann::json AsKserveAnswer(loadgen::LoadProtocol protocol, const std::string& body);

struct EndpointOptions {
  std::string model;
  std::vector<loadgen::InputSpec> inputs;  // one request's inputs
  double ready_timeout_s = 300.0;
  int closed_loop_connections = 8;
  double duration_s = 10.0;  // each load test, measured
  double warmup_s = 2.0;
  double p99_bound_ms = 500.0;
  double start_rate_per_s = 1.0;
  int bisection_steps = 4;
  std::filesystem::path log_dir;
};

// Every figure as JSON (see docs/serve.md for the fields). Throws std::runtime_error with the
// server's log tail when it dies or never gets ready.
nlohmann::json MeasureEndpoint(const ServerLaunch& launch, const EndpointOptions& options,
                               std::ostream& log);

}  // namespace fwbench::deploy
