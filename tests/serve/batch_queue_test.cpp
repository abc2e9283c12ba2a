#include "serve/batch_queue.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace fwbench::serve {
namespace {

using Ids = std::vector<std::uint64_t>;

TEST(BatchQueue, AFullBatchGoesAtOnceAndAPartialOneAfterTheQueueDelay) {
  BatchQueue q({.max_batch_size = 3,
                .max_queue_delay_ns = 1000,
                .max_queue = 10,
                .request_timeout_ns = 1'000'000});
  EXPECT_FALSE(q.NextDeadline().has_value());
  for (std::uint64_t id = 1; id <= 4; ++id) q.Push(id, 100 + static_cast<std::int64_t>(id));
  EXPECT_EQ(q.NextDeadline(), 101) << "a full batch is ready now";
  EXPECT_EQ(q.TakeReady(105), (Ids{1, 2, 3})) << "oldest first, at most max_batch_size";
  EXPECT_EQ(q.NextDeadline(), 104 + 1000);
  EXPECT_TRUE(q.TakeReady(1103).empty()) << "request 4 has waited 999 ns of 1000";
  EXPECT_EQ(q.TakeReady(1104), (Ids{4}));
  EXPECT_EQ(q.size(), 0u);
}

TEST(BatchQueue, AFullQueueRejectsAtOnceAndTimedOutRequestsAreTakenOut) {
  BatchQueue q({.max_batch_size = 8,
                .max_queue_delay_ns = 1'000'000,
                .max_queue = 2,
                .request_timeout_ns = 500});
  EXPECT_EQ(q.Push(1, 0), BatchQueue::Admit::kAccepted);
  EXPECT_EQ(q.Push(2, 300), BatchQueue::Admit::kAccepted);
  EXPECT_EQ(q.Push(3, 301), BatchQueue::Admit::kQueueFull);
  EXPECT_EQ(q.NextDeadline(), 501) << "the timeout comes before the queue delay";
  EXPECT_TRUE(q.Expire(500).empty()) << "exactly the timeout is not over it";
  EXPECT_EQ(q.Expire(501), (Ids{1}));
  EXPECT_EQ(q.Push(4, 600), BatchQueue::Admit::kAccepted) << "room again";
  EXPECT_EQ(q.Expire(900), (Ids{2}));
  EXPECT_EQ(q.size(), 1u);
}

TEST(BatchQueue, BatchSizeOneIsBatchingOffAndABadPolicyIsRefused) {
  BatchQueue q({.max_batch_size = 1,
                .max_queue_delay_ns = 1'000'000,
                .max_queue = 4,
                .request_timeout_ns = 1'000'000});
  q.Push(7, 0);
  q.Push(8, 0);
  EXPECT_EQ(q.TakeReady(0), (Ids{7}));
  EXPECT_EQ(q.TakeReady(0), (Ids{8}));
  EXPECT_THROW(BatchQueue({.max_batch_size = 0}), std::invalid_argument);
  EXPECT_THROW(BatchQueue({.max_queue = 0}), std::invalid_argument);
  EXPECT_THROW(BatchQueue({.request_timeout_ns = 0}), std::invalid_argument);
}

}  // namespace
}  // namespace fwbench::serve
