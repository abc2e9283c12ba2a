#pragma once
// The environment fingerprint recorded next to every result. A timing means little without the
// CPU, the BLAS that served the matmuls, the thread settings and the load on the machine when it
// was taken, so these are collected in one place and stored verbatim in the results file.
// Nothing here depends on LibTorch; backends/env/libtorch_info.h adds what only LibTorch can tell.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace fwbench {

// Collects the fingerprint of this machine and this process (shape in docs/environment.md).
// Anything that cannot be read is null; it never throws, because a missing /sys file must not
// cost a benchmark run. Reads only /proc, /sys, /etc and the environment; runs no programs.
nlohmann::json CollectEnvFingerprint();

// The CPUs this process may run on (sched_getaffinity), or nullopt where it cannot be read.
std::optional<int> UsableCores();
// The same, for sizing work: the hardware's thread count where the affinity cannot be read,
// at least 1. What `threads = 0` stands for and what the CPU watch compares against.
int UsableCoreCount();

// Unique paths of the shared objects (.so) mapped into this process, from /proc/self/maps, in
// the order they first appear there. Empty where /proc is not available.
std::vector<std::string> LoadedSharedLibraries();

// Which BLAS implementation the given shared-object paths amount to: "openblas-pthread",
// "openblas-openmp", "openblas-serial", "openblas" (an OpenBLAS whose threading the file name
// does not reveal), "mkl", "blis", "reference" (netlib's libblas, many times slower), "accelerate"
// or "unknown" (no BLAS among them, or one not listed here). Symlinks are resolved first since
// Debian's alternatives make libblas.so.3 a link to whichever package provides it. When several
// are mapped the reference BLAS wins: if it is mapped, the dynamic linker may well bind sgemm_ to
// it (it comes first in libtorch's DT_NEEDED), and that is the case worth reporting.
std::string DetectBlas(const std::vector<std::string>& libs);

// The BLAS kind of one library ("" when it is not a BLAS/LAPACK library at all). No symlink
// resolution; DetectBlas does that.
std::string ClassifyBlasLibrary(std::string_view path);

// The subset of `libs` that are BLAS or LAPACK implementations (libblas, liblapack, libopenblas,
// libmkl_*, libblis, libflame, ATLAS, Accelerate).
std::vector<std::string> BlasLibraries(const std::vector<std::string>& libs);

// Path of the loaded object that global symbol lookup resolves `symbol` to (what an undefined
// reference in libtorch binds to), or "" when no loaded object defines it.
std::string SymbolProvider(const char* symbol);

// Parsers of the /proc and /etc files, exposed so tests can feed them fixed text.

// /proc/cpuinfo → {model, vendor, flags, notable, sockets, mhz}; missing fields null.
nlohmann::json ParseCpuInfo(std::string_view text);
// A "Key:   value kB" line of /proc/meminfo, in bytes.
std::optional<long long> ParseMeminfoBytes(std::string_view text, std::string_view key);
// /proc/loadavg → {loadavg_1m, loadavg_5m, loadavg_15m, running_processes, total_processes}.
nlohmann::json ParseLoadavg(std::string_view text);
// One KEY="value" entry of /etc/os-release (quotes removed).
std::optional<std::string> ParseOsReleaseField(std::string_view text, std::string_view key);
// /proc/driver/nvidia/gpus/<bus>/information → {model, irq, gpu_uuid, ...} (snake_case keys).
nlohmann::json ParseNvidiaGpuInformation(std::string_view text);
// The effective CPU limit of a cgroup (cores, may be fractional) from cgroup v2's cpu.max
// ("max 100000" or "150000 100000"); nullopt when unlimited or unreadable.
std::optional<double> ParseCgroupCpuMax(std::string_view text);

// Environment variables that change how many threads OpenMP/BLAS use or which kernels they pick;
// recorded (null when unset) because each one can move a timing by a large factor.
const std::vector<std::string>& ThreadEnvVarNames();

}  // namespace fwbench
