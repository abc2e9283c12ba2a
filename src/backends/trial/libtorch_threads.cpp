#include "backends/trial/libtorch_threads.h"

#include <ATen/Context.h>
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
  // FWBENCH_THREAD_HYGIENE=off (plan thread_hygiene = false): LibTorch's intra-op pool is set as
  // fwbench always did, the other pools keep the libraries' defaults and are reported as set to
  // what they hold (bench/thread_hygiene.sh).
  const char* hygiene = std::getenv("FWBENCH_THREAD_HYGIENE");
  const bool pin = hygiene == nullptr || std::string_view(hygiene) != "off";
  // A LibTorch without MKL (Debian's) does its GEMMs in the process's BLAS: OpenBLAS is then part
  // of the compute pool and holds the trial's threads. With MKL (the PyTorch wheel's LibTorch)
  // OpenBLAS only arrives with other libraries (Debian's OpenCV) and keeps an idle pool of its
  // own, pinned to 1.
  const int blas_threads = at::hasMKL() ? 1 : threads;
  auto* blas_set = LoadedFunction<void(int)>("openblas_set_num_threads");
  auto* blas_get = LoadedFunction<int()>("openblas_get_num_threads");
  // Pinned pools first: an OpenMP-built OpenBLAS resets OpenMP's thread count when set.
  if (pin && blas_set != nullptr) blas_set(blas_threads);
  // Must come before any inter-op work; a trial calls this first, so it cannot fail here except
  // when something already started the pool, which the read-back then reports.
  try {
    if (pin) at::set_num_interop_threads(1);
  } catch (const std::exception&) {
  }
  at::set_num_threads(threads);

  const int interop = static_cast<int>(at::get_num_interop_threads());
  std::vector<protocol::ThreadPool> pools = {
      {.name = "torch intra-op (at::get_num_threads)",
       .role = "compute",
       .set = threads,
       .read = at::get_num_threads()},
      {.name = "torch inter-op (at::get_num_interop_threads)",
       .role = "pinned",
       .set = pin ? 1 : interop,
       .read = interop}};
  if (auto* omp_max = LoadedFunction<int()>("omp_get_max_threads")) {
    // LibTorch's intra-op pool is this OpenMP team: one pool, read back through both.
    pools.push_back({.name = "OpenMP (omp_get_max_threads)",
                     .role = "compute",
                     .set = threads,
                     .read = omp_max()});
  }
  if (blas_set != nullptr && blas_get != nullptr) {
    const int read = blas_get();
    pools.push_back({.name = "OpenBLAS (openblas_get_num_threads)",
                     .role = at::hasMKL() ? "pinned" : "compute",
                     .set = pin ? blas_threads : read,
                     .read = read});
  }
  return pools;
}

}  // namespace fwbench
