#pragma once
// An in-process inference server on a free loopback port, with a plain C++ model whose speed and
// failures the test chooses, for tests of the server and of the load generator.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "loadgen/http_client.h"
#include "serve/http_server.h"
#include "serve/inference_service.h"

namespace fwbench::testing {

// y = 2x on a [-1, 4] FP32 input; records the batch sizes it saw.
class DoublingModel : public serve::ServedModel {
 public:
  std::atomic<int> delay_ms{0};
  std::atomic<bool> fail{false};
  std::mutex mutex;
  std::vector<std::size_t> batches;  // requests per batch
  std::vector<bool> viewed;          // per request: its input was a view of the body (issue 22)

  std::vector<std::vector<serve::OutputTensor>> RunBatch(
      const std::vector<const serve::InferRequest*>& requests) override {
    {
      std::lock_guard lock(mutex);
      batches.push_back(requests.size());
      for (const auto* r : requests) viewed.push_back(r->inputs[0].fp32.is_view());
    }
    if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
    if (fail) throw std::runtime_error("planted failure");
    std::vector<std::vector<serve::OutputTensor>> out;
    for (const auto* r : requests) {
      serve::OutputTensor t{"y", r->inputs[0].shape, {}};
      for (const float v : r->inputs[0].fp32) t.fp32.push_back(2 * v);
      out.push_back({t});
    }
    return out;
  }
};

inline serve::ModelConfig DoublingConfig() {
  serve::ModelConfig c;
  c.signature.name = "double";
  c.signature.inputs = {{"x", "FP32", {-1, 4}}};
  c.signature.outputs = {{"y", "FP32", {-1, 4}}};
  c.batching.max_batch_size = 4;
  c.batching.max_queue_delay_ns = 1'000'000;
  c.batching.max_queue = 64;
  c.batching.request_timeout_ns = 5'000'000'000;
  return c;
}

struct TestServer {
  explicit TestServer(serve::ModelConfig config = DoublingConfig(),
                      serve::HttpServerOptions http = {},
                      serve::ServiceOptions service_options = {}, bool ready = true)
      : model(std::make_shared<DoublingModel>()),
        service(std::make_shared<serve::InferenceService>(service_options)) {
    service->AddModel("double", "1", config, model);
    service->AddModel("double", "2", config, model);
    http.port = 0;
    server = std::make_unique<serve::HttpServer>(
        http, [s = service](serve::HttpRequest r, serve::Reply reply) {
          s->Handle(std::move(r), std::move(reply));
        });
    server->Start();
    if (ready) service->WarmUpAndMarkReady();
    model->batches.clear();  // the warm-up's
    model->viewed.clear();
    url.host = "127.0.0.1";
    url.port = std::to_string(server->port());
  }
  ~TestServer() {
    server->Shutdown(std::chrono::milliseconds(2000));
    service->Stop();
  }
  loadgen::HttpResult Get(const std::string& target) const {
    return loadgen::Fetch(url, {"GET", target, "", "application/json", {}});
  }
  loadgen::HttpResult Post(const std::string& target, const std::string& body,
                           std::vector<std::pair<std::string, std::string>> headers = {}) const {
    return loadgen::Fetch(url, {"POST", target, body, "application/json", std::move(headers)});
  }

  std::shared_ptr<DoublingModel> model;
  std::shared_ptr<serve::InferenceService> service;
  std::unique_ptr<serve::HttpServer> server;
  loadgen::Url url;
};

}  // namespace fwbench::testing
