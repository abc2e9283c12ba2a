#pragma once
// The compute pool of `fwbench serve`: one pool of the threads asked for, shared by every model
// the server holds (LibTorch's intra-op team, OpenCV DNN's workers), the others pinned to 1, as
// a trial's (docs/workers.md, "Thread pools"). The server's batch threads take turns on it.
#include <string>
#include <vector>

#include "core/protocol.h"

namespace fwbench {

// Sets the pools and returns what each library reports back.
std::vector<protocol::ThreadPool> ConfigureServeThreads(int threads);

// "torch intra-op (at::get_num_threads) 2, …": each pool's name and the count it read back.
std::string DescribePools(const std::vector<protocol::ThreadPool>& pools);

}  // namespace fwbench
