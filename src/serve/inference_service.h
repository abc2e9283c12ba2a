#pragma once
// The inference server's application: every HTTP request is routed (KServe v2, TF Serving,
// TorchServe, /metrics), authenticated, parsed and checked against the model's signature, queued
// on that model version's batcher, and answered in the protocol it came in. Holds no LibTorch:
// models arrive as ServedModel.
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "serve/http_server.h"
#include "serve/model_batcher.h"
#include "serve/model_config.h"
#include "serve/server_metrics.h"

namespace fwbench::serve {

struct ServiceOptions {
  std::string bearer_token;  // non-empty: every endpoint but health/ping needs it
  std::string server_version;
};

class InferenceService {
 public:
  explicit InferenceService(ServiceOptions options);
  ~InferenceService();

  // Before Start/ready. The highest numbered version of a name is its latest.
  void AddModel(const std::string& name, const std::string& version, const ModelConfig& config,
                std::shared_ptr<ServedModel> model);
  // Runs every version once at batch size 1 and once at its max batch size, directly (not through
  // the queue), so the first user request does not pay for lazy initialisation; then marks the
  // server ready. Throws (naming the model) when a model fails on its own signature's zeros.
  void WarmUpAndMarkReady();
  bool ready() const { return ready_.load(); }
  // Refuses new inference (503) and answers everything queued.
  void Stop();

  void Handle(HttpRequest request, Reply reply);
  ServerMetrics& metrics() { return metrics_; }

 private:
  struct Version {
    std::string version;
    ModelConfig config;
    std::shared_ptr<ServedModel> model;
    std::unique_ptr<ModelBatcher> batcher;
  };
  struct Model {
    std::string name;
    std::map<long long, Version> versions;  // by number
  };
  const Version& Find(const std::string& name, const std::string& version) const;

  ServiceOptions options_;
  ServerMetrics metrics_;
  std::map<std::string, Model> models_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopping_{false};
};

}  // namespace fwbench::serve
