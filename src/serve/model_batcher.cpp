#include "serve/model_batcher.h"

#include <fmt/format.h>

#include <chrono>

#include "core/clock.h"

namespace fwbench::serve {

ModelBatcher::ModelBatcher(std::string metrics_name, std::shared_ptr<ServedModel> model,
                           BatchPolicy policy, ServerMetrics* metrics)
    : name_(std::move(metrics_name)),
      model_(std::move(model)),
      metrics_(metrics),
      queue_(policy),
      worker_([this] { Work(); }) {}

ModelBatcher::~ModelBatcher() { Stop(); }

void ModelBatcher::Submit(InferRequest request, Done done) {
  std::unique_lock lock(mutex_);
  if (stopping_) {
    lock.unlock();
    done({503, "the server is shutting down", {}});
    return;
  }
  const std::int64_t now = MonotonicNs();
  const std::uint64_t id = next_id_++;
  if (queue_.Push(id, now) == BatchQueue::Admit::kQueueFull) {
    const std::size_t bound = queue_.policy().max_queue;
    lock.unlock();
    done({503,
          fmt::format("model '{}' is overloaded: its queue holds {} requests already (raise "
                      "max_queue in its config.toml or send fewer at once)",
                      name_, bound),
          {}});
    return;
  }
  pending_.emplace(id, Pending{std::move(request), std::move(done), now});
  lock.unlock();
  wake_.notify_one();
}

void ModelBatcher::Stop() {
  std::vector<Pending> left;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !worker_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, p] : pending_) left.push_back(std::move(p));
    pending_.clear();
  }
  for (auto& p : left) p.done({503, "the server is shutting down", {}});
}

void ModelBatcher::Work() {
  std::unique_lock lock(mutex_);
  while (true) {
    if (stopping_) return;
    const std::int64_t now = MonotonicNs();
    std::vector<Pending> expired;
    for (const auto id : queue_.Expire(now)) {
      auto it = pending_.find(id);
      expired.push_back(std::move(it->second));
      pending_.erase(it);
    }
    std::vector<std::uint64_t> ids = queue_.TakeReady(now);
    if (!expired.empty() || !ids.empty()) {
      std::vector<Pending> batch;
      for (const auto id : ids) {
        auto it = pending_.find(id);
        batch.push_back(std::move(it->second));
        pending_.erase(it);
      }
      lock.unlock();
      for (auto& p : expired) {
        p.done({504,
                fmt::format("the request waited over {} ms in model '{}''s queue",
                            queue_.policy().request_timeout_ns / 1'000'000, name_),
                {}});
      }
      if (!batch.empty()) {
        std::vector<const InferRequest*> requests;
        std::int64_t rows = 0;
        for (const auto& p : batch) {
          requests.push_back(&p.request);
          rows += p.request.BatchSize();
          if (metrics_)
            metrics_->ObserveQueueSeconds(name_, static_cast<double>(now - p.queued_ns) * 1e-9);
        }
        const std::int64_t start = MonotonicNs();
        std::vector<std::vector<OutputTensor>> outputs;
        std::string failure;
        try {
          outputs = model_->RunBatch(requests);
          if (outputs.size() != batch.size()) {
            failure = fmt::format("the model returned {} results for a batch of {} requests",
                                  outputs.size(), batch.size());
          }
        } catch (const std::exception& e) {
          failure = e.what();
        }
        if (metrics_) {
          metrics_->ObserveComputeSeconds(name_, static_cast<double>(MonotonicNs() - start) * 1e-9);
          metrics_->ObserveBatchSize(name_, rows);
        }
        for (std::size_t i = 0; i < batch.size(); ++i) {
          if (failure.empty()) {
            batch[i].done({200, "", std::move(outputs[i])});
          } else {
            batch[i].done(
                {500, fmt::format("model '{}' failed on this batch: {}", name_, failure), {}});
          }
        }
      }
      lock.lock();
      continue;
    }
    const auto deadline = queue_.NextDeadline();
    if (deadline) {
      wake_.wait_for(lock, std::chrono::nanoseconds(*deadline - now));
    } else {
      wake_.wait(lock);
    }
  }
}

}  // namespace fwbench::serve
