#include "serve/compute_thread.h"

namespace fwbench::serve {

ComputeThread::ComputeThread() : thread_([this] { Loop(); }) {}

ComputeThread::~ComputeThread() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void ComputeThread::Run(const std::function<void()>& task) {
  if (IsThisThread()) return task();
  std::mutex done_mutex;
  std::condition_variable done_cv;
  bool done = false;
  std::exception_ptr error;
  {
    std::lock_guard lock(mutex_);
    tasks_.emplace_back([&] {
      try {
        task();
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard done_lock(done_mutex);
      done = true;
      done_cv.notify_one();
    });
  }
  wake_.notify_one();
  std::unique_lock lock(done_mutex);
  done_cv.wait(lock, [&] { return done; });
  if (error) std::rethrow_exception(error);
}

void ComputeThread::Loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
    // Tasks still queued when stopping run first: their callers are waiting for them.
    if (tasks_.empty()) return;
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

namespace {

class OnThreadModel final : public ServedModel {
 public:
  OnThreadModel(std::shared_ptr<ServedModel> model, std::shared_ptr<ComputeThread> thread)
      : model_(std::move(model)), thread_(std::move(thread)) {}
  ~OnThreadModel() override {
    // The model is released where it ran (LibTorch frees its buffers from its own pool); a
    // destructor must not throw, so a failure there releases it here instead.
    try {
      thread_->Run([this] { model_.reset(); });
    } catch (...) {
      model_.reset();
    }
  }
  std::vector<std::vector<OutputTensor>> RunBatch(
      const std::vector<const InferRequest*>& requests) override {
    return thread_->Call([&] { return model_->RunBatch(requests); });
  }

 private:
  std::shared_ptr<ServedModel> model_;
  std::shared_ptr<ComputeThread> thread_;
};

}  // namespace

std::shared_ptr<ServedModel> OnComputeThread(std::shared_ptr<ServedModel> model,
                                             std::shared_ptr<ComputeThread> thread) {
  return std::make_shared<OnThreadModel>(std::move(model), std::move(thread));
}

}  // namespace fwbench::serve
