#include "serve/compute_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace fwbench::serve {
namespace {

// Records the thread each batch ran on, how many batches ran at once, and where it was released.
// Batches running at once, over every model of a test.
std::atomic<int> g_running{0};
std::atomic<int> g_most_at_once{0};

struct Recorder {
  std::mutex mutex;
  std::set<std::thread::id> ran_on;
  std::thread::id released_on;
};

class RecordingModel final : public ServedModel {
 public:
  explicit RecordingModel(Recorder& r) : r_(r) {}
  ~RecordingModel() override { r_.released_on = std::this_thread::get_id(); }
  std::vector<std::vector<OutputTensor>> RunBatch(
      const std::vector<const InferRequest*>& requests) override {
    const int now = ++g_running;
    int most = g_most_at_once.load();
    while (now > most && !g_most_at_once.compare_exchange_weak(most, now)) {
    }
    {
      std::lock_guard lock(r_.mutex);
      r_.ran_on.insert(std::this_thread::get_id());
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    --g_running;
    if (requests.empty()) throw std::runtime_error("no requests");
    return std::vector<std::vector<OutputTensor>>(requests.size());
  }

 private:
  Recorder& r_;
};

TEST(ComputeThread, TwoModelsBatchesTakeTurnsOnTheOneThreadAndAreReleasedThere) {
  g_most_at_once = 0;
  const auto compute = std::make_shared<ComputeThread>();
  const std::thread::id compute_id = compute->Call([] { return std::this_thread::get_id(); });
  EXPECT_NE(compute_id, std::this_thread::get_id());
  Recorder first;
  Recorder second;
  {
    const auto a = OnComputeThread(std::make_shared<RecordingModel>(first), compute);
    const auto b = OnComputeThread(std::make_shared<RecordingModel>(second), compute);
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
  }
  EXPECT_EQ(first.ran_on, std::set<std::thread::id>{compute_id});
  EXPECT_EQ(second.ran_on, std::set<std::thread::id>{compute_id});
  EXPECT_EQ(g_most_at_once.load(), 1) << "two batches ran at once";
  EXPECT_EQ(first.released_on, compute_id);
  EXPECT_EQ(second.released_on, compute_id);
}

TEST(ComputeThread, AFailureReachesItsCallerAndTheThreadGoesOn) {
  const auto compute = std::make_shared<ComputeThread>();
  EXPECT_THROW(compute->Run([] { throw std::invalid_argument("bad batch"); }),
               std::invalid_argument);
  Recorder r;
  const auto model = OnComputeThread(std::make_shared<RecordingModel>(r), compute);
  try {
    model->RunBatch({});
    ADD_FAILURE() << "an empty batch should have thrown";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "no requests");
  }
  EXPECT_EQ(compute->Call([] { return 7; }), 7);
  // A task on the compute thread that asks it for more work runs it inline, not deadlocked.
  EXPECT_EQ(compute->Call([&] { return compute->Call([] { return 8; }); }), 8);
}

}  // namespace
}  // namespace fwbench::serve
