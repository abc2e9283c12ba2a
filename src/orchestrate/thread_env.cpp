#include "orchestrate/thread_env.h"

#include <fmt/format.h>

namespace fwbench {

std::vector<std::string> TrialThreadEnvironment(int threads, bool hygiene) {
  if (!hygiene) return {"FWBENCH_THREAD_HYGIENE=off"};
  return {
      "FWBENCH_THREAD_HYGIENE=on",
      // The OpenMP team is LibTorch's and PyTorch's intra-op pool (and MKL's, which runs on it).
      fmt::format("OMP_NUM_THREADS={}", threads),
      fmt::format("MKL_NUM_THREADS={}", threads),
      // OpenBLAS (pthreads) starts a pool of its own when it loads: the second pool that fought
      // LibTorch's OpenMP team in issue 19.
      "OPENBLAS_NUM_THREADS=1",
      // TensorFlow reads these before its runtime starts; the workers set the same numbers.
      fmt::format("TF_NUM_INTRAOP_THREADS={}", threads),
      "TF_NUM_INTEROP_THREADS=1",
  };
}

}  // namespace fwbench
