#pragma once
// One compute pool per LibTorch trial (docs/workers.md, "Thread pools"): LibTorch's intra-op
// pool is its OpenMP team; its inter-op pool and any OpenBLAS loaded beside it are pinned to 1.
#include <vector>

#include "core/protocol.h"

namespace fwbench {

// Sets the pools for a trial of `threads` threads and returns what each library reports back.
std::vector<protocol::ThreadPool> ConfigureLibtorchThreads(int threads);

}  // namespace fwbench
