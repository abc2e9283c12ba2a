#include "data/pipeline_loader.h"

#include <algorithm>

namespace fwbench::data {

PipelineLoader::PipelineLoader(const ImageBatcher& batcher, int workers, std::size_t prefetch)
    : batcher_(batcher),
      prefetch_(std::max<std::size_t>(1, prefetch)),
      ready_(static_cast<std::size_t>(std::max(0, workers))) {
  threads_.reserve(ready_.size());
  try {
    for (std::size_t k = 0; k < ready_.size(); ++k) threads_.emplace_back([this, k] { Work(k); });
  } catch (...) {
    Stop();  // the threads already started must be joined before they are destroyed
    throw;
  }
}

PipelineLoader::~PipelineLoader() { Stop(); }

void PipelineLoader::Stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

std::unique_ptr<PipelineLoader::Batch> PipelineLoader::TakeFree() {
  if (free_.empty()) return nullptr;
  std::unique_ptr<Batch> b = std::move(free_.back());
  free_.pop_back();
  return b;
}

void PipelineLoader::Work(std::size_t worker) {
  const std::size_t batch = batcher_.options().batch_size;
  for (std::size_t b = worker;; b += ready_.size()) {
    Slot made;
    {
      std::lock_guard lock(mutex_);
      made.batch = TakeFree();
    }
    try {
      if (!made.batch) {
        made.batch =
            std::make_unique<Batch>(Batch{.images = std::vector<float>(batch * kImageBytes),
                                          .labels = std::vector<std::int64_t>(batch)});
      }
      batcher_.Fill(b, made.batch->images, made.batch->labels);
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

const PipelineLoader::Batch& PipelineLoader::Next() {
  const std::size_t batch = batcher_.options().batch_size;
  if (threads_.empty()) {
    if (!current_) {
      current_ = std::make_unique<Batch>(Batch{.images = std::vector<float>(batch * kImageBytes),
                                               .labels = std::vector<std::int64_t>(batch)});
    }
    batcher_.Fill(next_, current_->images, current_->labels);
    ++next_;
    return *current_;
  }
  const std::size_t worker = next_ % ready_.size();
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return !ready_[worker].empty(); });
  Slot slot = std::move(ready_[worker].front());
  ready_[worker].pop_front();
  if (current_) free_.push_back(std::move(current_));
  lock.unlock();
  changed_.notify_all();
  if (slot.error) std::rethrow_exception(slot.error);
  ++next_;
  current_ = std::move(slot.batch);
  return *current_;
}

}  // namespace fwbench::data
