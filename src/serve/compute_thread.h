#pragma once
// The one thread on which the server loads, warms up and runs every model: one compute pool per
// process (docs/workers.md, "Thread pools"). LibTorch's OpenMP gives each thread that starts
// parallel work a team of its own; a model loaded on the main thread and run on a batcher's
// thread ran ResNet-18 at 12–18 ms instead of 9.4 ms in-process, the main thread's idle team
// competing for the cores (docs/serve.md, "The model's own speed"). Batchers of several models
// take turns here instead of running their pools side by side.
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>

#include "serve/served_model.h"

namespace fwbench::serve {

class ComputeThread {
 public:
  ComputeThread();
  ~ComputeThread();
  ComputeThread(const ComputeThread&) = delete;
  ComputeThread& operator=(const ComputeThread&) = delete;

  // Runs `task` on the compute thread, after the tasks before it, and waits for it; an exception
  // it throws is rethrown here.
  void Run(const std::function<void()>& task);
  // Whether the caller is the compute thread (a task there runs inline: queued, it would wait
  // for itself).
  bool IsThisThread() const { return std::this_thread::get_id() == thread_.get_id(); }

  template <typename F>
  std::invoke_result_t<F> Call(F&& f) {
    std::optional<std::invoke_result_t<F>> result;
    Run([&] { result.emplace(f()); });
    return std::move(*result);
  }

 private:
  void Loop();
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;
};

// A model whose batches run on the compute thread.
std::shared_ptr<ServedModel> OnComputeThread(std::shared_ptr<ServedModel> model,
                                             std::shared_ptr<ComputeThread> thread);

}  // namespace fwbench::serve
