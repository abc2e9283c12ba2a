#pragma once
// The dynamic batcher's decisions, as a clock-free state machine (issue 7): the server's worker
// threads call it with the current time, so its behaviour is tested exactly, without sleeps.
//   * a bounded queue: a request that finds it full is rejected at once (the server answers
//     with its protocol's "unavailable" status) rather than waiting without bound;
//   * a batch is ready when max_batch_size requests wait, or when the oldest has waited
//     max_queue_delay_ns (then everything waiting, up to max_batch_size, goes);
//   * a request that waited longer than its timeout is taken out and answered as timed out.
// max_batch_size = 1 is batching off: every request is its own batch, at once.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace fwbench::serve {

struct BatchPolicy {
  std::size_t max_batch_size = 8;
  std::int64_t max_queue_delay_ns = 500'000;  // 0.5 ms
  std::size_t max_queue = 64;
  std::int64_t request_timeout_ns = 1'000'000'000;
};

class BatchQueue {
 public:
  // Throws std::invalid_argument for a zero batch size or queue bound, or negative times.
  explicit BatchQueue(const BatchPolicy& policy);

  enum class Admit { kAccepted, kQueueFull };
  Admit Push(std::uint64_t request_id, std::int64_t now_ns);

  // Requests that have waited longer than the timeout, oldest first, removed from the queue.
  std::vector<std::uint64_t> Expire(std::int64_t now_ns);
  // The next batch to run, oldest first, removed from the queue; empty when none is ready yet.
  std::vector<std::uint64_t> TakeReady(std::int64_t now_ns);
  // When TakeReady or Expire will next have something if nothing else arrives; nullopt when the
  // queue is empty. A worker sleeps until then (or until a push).
  std::optional<std::int64_t> NextDeadline() const;

  std::size_t size() const { return queue_.size(); }
  const BatchPolicy& policy() const { return policy_; }

 private:
  struct Waiting {
    std::uint64_t id;
    std::int64_t since_ns;
  };
  BatchPolicy policy_;
  std::deque<Waiting> queue_;
};

}  // namespace fwbench::serve
