#include "serve/compute_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace fwbench::serve {
namespace {

// Records the thread each batch ran on.
class ThreadRecordingModel final : public ServedModel {
 public:
  std::vector<std::vector<OutputTensor>> RunBatch(
      const std::vector<const InferRequest*>& requests) override {
    {
      std::lock_guard lock(mutex);
      threads.insert(std::this_thread::get_id());
    }
    if (requests.empty()) throw std::runtime_error("no requests");
    return std::vector<std::vector<OutputTensor>>(requests.size());
  }
  std::mutex mutex;
  std::set<std::thread::id> threads;
};

TEST(ComputeThread, EveryTaskAndEveryModelsBatchRunOnTheOneComputeThread) {
  const auto compute = std::make_shared<ComputeThread>();
  const std::thread::id compute_id = compute->Call([] { return std::this_thread::get_id(); });
  EXPECT_NE(compute_id, std::this_thread::get_id());
  auto first = std::make_shared<ThreadRecordingModel>();
  auto second = std::make_shared<ThreadRecordingModel>();
  const auto a = OnComputeThread(first, compute);
  const auto b = OnComputeThread(second, compute);
  InferRequest request;
  const std::vector<const InferRequest*> batch = {&request, &request};
  // Batchers of two models call from threads of their own, at once.
  std::vector<std::thread> callers;
  std::atomic<int> answered{0};
  for (int i = 0; i < 4; ++i) {
    callers.emplace_back([&, i] {
      for (int k = 0; k < 25; ++k) {
        if ((i % 2 == 0 ? a : b)->RunBatch(batch).size() == 2) ++answered;
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(answered.load(), 100);
  EXPECT_EQ(first->threads, std::set<std::thread::id>{compute_id});
  EXPECT_EQ(second->threads, std::set<std::thread::id>{compute_id});
}

TEST(ComputeThread, AFailingTaskThrowsInItsCallerAndTheThreadGoesOn) {
  ComputeThread compute;
  EXPECT_THROW(compute.Run([] { throw std::invalid_argument("bad batch"); }),
               std::invalid_argument);
  auto model = std::make_shared<ThreadRecordingModel>();
  const auto on_thread = OnComputeThread(model, std::make_shared<ComputeThread>());
  try {
    on_thread->RunBatch({});
    ADD_FAILURE() << "an empty batch should have thrown";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "no requests");
  }
  EXPECT_EQ(compute.Call([] { return 7; }), 7);
}

}  // namespace
}  // namespace fwbench::serve
