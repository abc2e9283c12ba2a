#pragma once
// One model version's dynamic batcher: requests wait in a bounded queue (BatchQueue decides);
// one worker thread runs each batch on the model and answers every request in it. A full queue
// is refused at once (503), a request that waited past its timeout is answered 504, a model
// failure fails its whole batch (500) and the worker goes on.
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "serve/batch_queue.h"
#include "serve/served_model.h"
#include "serve/server_metrics.h"

namespace fwbench::serve {

struct BatchOutcome {
  int status = 200;
  std::string error;                  // status != 200
  std::vector<OutputTensor> outputs;  // status == 200
};

class ModelBatcher {
 public:
  using Done = std::function<void(BatchOutcome)>;
  // `metrics` may be null; `metrics_name` labels this batcher's series.
  ModelBatcher(std::string metrics_name, std::shared_ptr<ServedModel> model, BatchPolicy policy,
               ServerMetrics* metrics);
  ~ModelBatcher();
  ModelBatcher(const ModelBatcher&) = delete;
  ModelBatcher& operator=(const ModelBatcher&) = delete;

  // `done` runs exactly once, on the worker thread or (when refused) on the caller's.
  void Submit(InferRequest request, Done done);
  // Answers everything still queued with 503 and joins the worker; idempotent.
  void Stop();
  const BatchPolicy& policy() const { return queue_.policy(); }

 private:
  struct Pending {
    InferRequest request;
    Done done;
    std::int64_t queued_ns;
  };
  void Work();

  std::string name_;
  std::shared_ptr<ServedModel> model_;
  ServerMetrics* metrics_;
  std::mutex mutex_;
  std::condition_variable wake_;
  BatchQueue queue_;
  std::unordered_map<std::uint64_t, Pending> pending_;
  std::uint64_t next_id_ = 1;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace fwbench::serve
