#pragma once
// fwbench's own input pipeline, the reference of the input_pipeline task
// (docs/data-pipelines.md): a batcher's global batches 0, 1, 2, … in order, filled by `workers`
// threads ahead of the consumer (worker k fills batches k, k + workers, …, each at most
// `prefetch` batches ahead), or by the consumer itself when workers is 0.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "data/image_batcher.h"

namespace fwbench::data {

class PipelineLoader {
 public:
  // `batcher` must outlive the loader. Worker threads start here.
  PipelineLoader(const ImageBatcher& batcher, int workers, std::size_t prefetch = 2);
  ~PipelineLoader();  // stops and joins the workers
  PipelineLoader(const PipelineLoader&) = delete;
  PipelineLoader& operator=(const PipelineLoader&) = delete;

  // Copies the next batch into the spans (sized for one batch); rethrows what a worker threw
  // filling it (a file that does not decode), after which the loader is spent.
  void Next(std::span<float> images, std::span<std::int64_t> labels);

 private:
  struct Batch {
    std::vector<float> images;
    std::vector<std::int64_t> labels;
    std::exception_ptr error;
  };
  void Work(std::size_t worker);

  const ImageBatcher& batcher_;
  std::size_t prefetch_;
  std::size_t next_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stop_ = false;
  std::vector<std::deque<Batch>> ready_;  // per worker, in its batch order
  std::vector<std::thread> threads_;
};

}  // namespace fwbench::data
