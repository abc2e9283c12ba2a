#include "data/pipeline_loader.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace fwbench::data {

PipelineLoader::PipelineLoader(const ImageBatcher& batcher, int workers, std::size_t prefetch)
    : batcher_(batcher),
      prefetch_(std::max<std::size_t>(1, prefetch)),
      ready_(static_cast<std::size_t>(std::max(0, workers))) {
  threads_.reserve(ready_.size());
  for (std::size_t k = 0; k < ready_.size(); ++k) threads_.emplace_back([this, k] { Work(k); });
}

PipelineLoader::~PipelineLoader() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void PipelineLoader::Work(std::size_t worker) {
  const std::size_t batch = batcher_.options().batch_size;
  for (std::size_t b = worker;; b += ready_.size()) {
    Batch made{.images = std::vector<float>(batch * kImageBytes),
               .labels = std::vector<std::int64_t>(batch),
               .error = nullptr};
    try {
      batcher_.Fill(b, made.images, made.labels);
    } catch (...) {
      made.error = std::current_exception();
    }
    const bool failed = made.error != nullptr;
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return stop_ || ready_[worker].size() < prefetch_; });
    if (stop_) return;
    ready_[worker].push_back(std::move(made));
    lock.unlock();
    changed_.notify_all();
    if (failed) return;
  }
}

void PipelineLoader::Next(std::span<float> images, std::span<std::int64_t> labels) {
  if (threads_.empty()) {
    batcher_.Fill(next_++, images, labels);
    return;
  }
  const std::size_t worker = next_ % ready_.size();
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return !ready_[worker].empty(); });
  Batch batch = std::move(ready_[worker].front());
  ready_[worker].pop_front();
  lock.unlock();
  changed_.notify_all();
  if (batch.error) std::rethrow_exception(batch.error);
  if (images.size() != batch.images.size() || labels.size() != batch.labels.size()) {
    throw std::invalid_argument(
        fmt::format("PipelineLoader::Next: spans of {} and {} for a batch of {}", images.size(),
                    labels.size(), batch.labels.size()));
  }
  ++next_;
  std::copy(batch.images.begin(), batch.images.end(), images.begin());
  std::copy(batch.labels.begin(), batch.labels.end(), labels.begin());
}

}  // namespace fwbench::data
