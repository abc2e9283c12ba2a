#pragma once
// fwbench's own input pipeline, the reference of the input_pipeline task
// (docs/data-pipelines.md): a batcher's global batches 0, 1, 2, … in order, filled by `workers`
// threads ahead of the consumer (worker k fills batches k, k + workers, …, each at most
// `prefetch` batches ahead), or by the consumer itself when workers is 0. Batch buffers are
// recycled and handed over without a copy.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "data/image_batcher.h"

namespace fwbench::data {

class PipelineLoader {
 public:
  struct Batch {
    std::vector<float> images;         // batch × kImageBytes, normalised NCHW
    std::vector<std::int64_t> labels;  // batch
  };

  // `batcher` must outlive the loader. Worker threads start here.
  PipelineLoader(const ImageBatcher& batcher, int workers, std::size_t prefetch = 2);
  ~PipelineLoader();  // stops and joins the workers
  PipelineLoader(const PipelineLoader&) = delete;
  PipelineLoader& operator=(const PipelineLoader&) = delete;

  // The next batch, valid until the next call; rethrows what a worker threw filling it (a file
  // that does not decode), after which the loader is spent.
  const Batch& Next();

 private:
  struct Slot {
    std::unique_ptr<Batch> batch;
    std::exception_ptr error;
  };
  void Work(std::size_t worker);
  std::unique_ptr<Batch> TakeFree();  // mutex_ held
  void Stop();

  const ImageBatcher& batcher_;
  std::size_t prefetch_;
  std::size_t next_ = 0;
  std::unique_ptr<Batch> current_;  // what Next handed out last
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stop_ = false;
  std::vector<std::deque<Slot>> ready_;       // per worker, in its batch order
  std::vector<std::unique_ptr<Batch>> free_;  // recycled buffers
  std::vector<std::thread> threads_;
};

}  // namespace fwbench::data
