#pragma once
// The inference server's application: every HTTP request is routed (KServe v2, TF Serving,
// TorchServe, /metrics), authenticated, parsed and checked against the model's signature, queued
// on that model version's batcher, and answered in the protocol it came in. Holds no LibTorch:
// models arrive as ServedModel.
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "serve/http_server.h"
#include "serve/model_batcher.h"
#include "serve/model_config.h"
#include "serve/server_metrics.h"

namespace boost::asio {
class thread_pool;
}

namespace fwbench::serve {

struct Route;

struct ServiceOptions {
  std::string bearer_token;  // non-empty: every endpoint but health/ping needs it
  std::string server_version;
  // Request bodies of this size or more are decoded on the decode threads, not on the HTTP
  // thread that read them: a 60 MB JSON body takes seconds to parse, and on an HTTP thread it
  // held up every other connection, health checks included (issue 17). Smaller ones are decoded
  // at once, saving the hand-over.
  std::size_t decode_inline_below_bytes = 64u << 10;
  int decode_threads = 2;
};

class InferenceService {
 public:
  explicit InferenceService(ServiceOptions options);
  ~InferenceService();

  // Before Start/ready. The highest numbered version of a name is its latest.
  void AddModel(const std::string& name, const std::string& version, const ModelConfig& config,
                std::shared_ptr<ServedModel> model);
  // Runs every version once at batch size 1 on zeros shaped as its config says and checks the
  // outputs against the config's [[outputs]]: before the server listens, so that a config that
  // does not describe its model stops `serve` with exit code 2. Throws UsageError naming the
  // config file, the field and what the model returned.
  void CheckModelsAgainstConfigs() const;
  // Runs every version once at batch size 1 and once at its max batch size, directly (not through
  // the queue), so the first user request does not pay for lazy initialisation; then marks the
  // server ready. Throws as CheckModelsAgainstConfigs does.
  void WarmUpAndMarkReady();
  bool ready() const { return ready_.load(); }
  // Refuses new inference (503) and answers everything queued.
  void Stop();

  void Handle(HttpRequest request, Reply reply);
  ServerMetrics& metrics() { return metrics_; }

  // The same steps for front ends other than HTTP (serve/grpc_server.h), protocol-neutral.
  struct ModelInfo {
    std::string name;
    std::string version;  // the one resolved: the latest when none was asked for
    std::vector<std::string> versions;
    std::string platform;  // KServe's platform name, e.g. "pytorch_torchscript"
    ModelSignature signature;
  };
  // Throws RequestError(404) naming the models, or the versions, there are.
  ModelInfo Describe(const std::string& model, const std::string& version) const;
  // True when no bearer token is configured or `authorization` is "Bearer TOKEN" with it.
  bool Authorized(const std::string& authorization) const;
  // Decodes the request with `decode` (which throws RequestError to refuse it) against the
  // model's signature, checks it and queues it on the version's batcher. `done` runs exactly
  // once: on the batcher's thread with the outputs, or on the caller's when the request is
  // refused (BatchOutcome::status is then the HTTP status that says why, 400/404/503).
  using InferDone = std::function<void(const BatchOutcome& outcome, const std::string& version)>;
  void InferDecoded(const std::string& model, const std::string& version,
                    const std::function<InferRequest(const ModelSignature&)>& decode,
                    const InferDone& done);

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
  void RunZeros(const std::string& name, const Version& v, std::int64_t batch) const;
  // Decodes an inference request, checks it against the model's signature and queues it on the
  // version's batcher; the answer goes out through `reply` once the batch ran.
  void Infer(const Route& route, const Version& v, const HttpRequest& request, const Reply& reply);
  // Every protocol's last step before the batcher: inputs agree on the batch size, the decode
  // time is observed. Throws RequestError.
  void Queue(const std::string& model, const Version& v, InferRequest parsed,
             std::int64_t decode_start_ns, ModelBatcher::Done done);
  // 503 unless the server is ready and not stopping.
  void CheckAcceptingInference() const;
  void CountAndSend(const Reply& reply, const std::string& model, const char* protocol,
                    HttpResponse response);

  ServiceOptions options_;
  ServerMetrics metrics_;
  std::map<std::string, Model> models_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopping_{false};
  std::unique_ptr<boost::asio::thread_pool> decode_pool_;
};

}  // namespace fwbench::serve
