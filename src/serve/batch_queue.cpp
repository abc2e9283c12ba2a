#include "serve/batch_queue.h"

#include <algorithm>
#include <stdexcept>

namespace fwbench::serve {

BatchQueue::BatchQueue(const BatchPolicy& policy) : policy_(policy) {
  if (policy.max_batch_size == 0 || policy.max_queue == 0 || policy.max_queue_delay_ns < 0 ||
      policy.request_timeout_ns <= 0) {
    throw std::invalid_argument(
        "batch policy: max_batch_size and max_queue must be at least 1, the queue delay at least "
        "0 and the request timeout positive");
  }
}

BatchQueue::Admit BatchQueue::Push(std::uint64_t request_id, std::int64_t now_ns) {
  if (queue_.size() >= policy_.max_queue) return Admit::kQueueFull;
  queue_.push_back({request_id, now_ns});
  return Admit::kAccepted;
}

std::vector<std::uint64_t> BatchQueue::Expire(std::int64_t now_ns) {
  std::vector<std::uint64_t> expired;
  // FIFO with one timeout for all: the expired ones are a prefix.
  while (!queue_.empty() && now_ns - queue_.front().since_ns > policy_.request_timeout_ns) {
    expired.push_back(queue_.front().id);
    queue_.pop_front();
  }
  return expired;
}

std::vector<std::uint64_t> BatchQueue::TakeReady(std::int64_t now_ns) {
  if (queue_.empty()) return {};
  const bool full = queue_.size() >= policy_.max_batch_size;
  const bool waited = now_ns - queue_.front().since_ns >= policy_.max_queue_delay_ns;
  if (!full && !waited) return {};
  const std::size_t n = std::min(queue_.size(), policy_.max_batch_size);
  std::vector<std::uint64_t> batch;
  batch.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    batch.push_back(queue_.front().id);
    queue_.pop_front();
  }
  return batch;
}

std::optional<std::int64_t> BatchQueue::NextDeadline() const {
  if (queue_.empty()) return std::nullopt;
  if (queue_.size() >= policy_.max_batch_size) return queue_.front().since_ns;  // ready now
  return queue_.front().since_ns +
         std::min(policy_.max_queue_delay_ns, policy_.request_timeout_ns + 1);
}

}  // namespace fwbench::serve
