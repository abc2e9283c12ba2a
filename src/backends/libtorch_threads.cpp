#include "backends/libtorch_threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <cstdlib>
#include <string_view>

#include <fmt/format.h>

namespace fwbench {

namespace {

// A C function of the process's loaded libraries, or null when none of them exports it: which
// BLAS and OpenMP runtime are loaded depends on how LibTorch and fwbench were built.
template <typename F>
F* LoadedFunction(const char* name) {
  return reinterpret_cast<F*>(dlsym(RTLD_DEFAULT, name));
}

}  // namespace

std::vector<protocol::ThreadPool> ConfigureLibtorchThreads(int threads) {
  at::set_num_threads(threads);
  // FWBENCH_THREAD_HYGIENE=off (plan thread_hygiene = false): the other pools keep the
  // libraries' defaults, and the read-back shows them (bench/thread_hygiene.sh).
  const char* hygiene = std::getenv("FWBENCH_THREAD_HYGIENE");
  const bool pin = hygiene == nullptr || std::string_view(hygiene) != "off";
  // Must come before any inter-op work; a trial calls this first, so it cannot fail here except
  // when something already started the pool, which the read-back then reports.
  try {
    if (pin) at::set_num_interop_threads(1);
  } catch (const std::exception&) {
  }
  std::vector<protocol::ThreadPool> pools = {
      {.name = "torch intra-op (at::get_num_threads)",
       .role = "compute",
       .set = threads,
       .read = at::get_num_threads()},
      {.name = "torch inter-op (at::get_num_interop_threads)",
       .role = "pinned",
       .set = 1,
       .read = static_cast<int>(at::get_num_interop_threads())}};
  if (auto* omp_max = LoadedFunction<int()>("omp_get_max_threads")) {
    // LibTorch's intra-op pool is this OpenMP team: one pool, read back through both.
    pools.push_back({.name = "OpenMP (omp_get_max_threads)",
                     .role = "compute",
                     .set = threads,
                     .read = omp_max()});
  }
  // OpenBLAS (pthreads) keeps a pool of its own, which fought LibTorch's OpenMP team for the
  // cores when LibTorch's GEMMs ran on it: libtorch eager b1 took 34.5 ms (CV 76%) with both,
  // 9.5 ms with OpenBLAS at 1 thread (issue 19).
  auto* blas_set = LoadedFunction<void(int)>("openblas_set_num_threads");
  auto* blas_get = LoadedFunction<int()>("openblas_get_num_threads");
  if (blas_set != nullptr && blas_get != nullptr) {
    if (pin) blas_set(1);
    pools.push_back({.name = "OpenBLAS (openblas_get_num_threads)",
                     .role = "pinned",
                     .set = 1,
                     .read = blas_get()});
  }
  return pools;
}

}  // namespace fwbench
