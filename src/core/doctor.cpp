#include "core/doctor.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>

#include <fmt/format.h>

namespace fwbench {
namespace {

using nlohmann::json;

// The value at a path like "/cpu/usable_cores", or nullptr when any step is missing; a results
// file written by an older fwbench may lack fields, and a missing field must skip a rule.
const json* Find(const json& root, const char* pointer) {
  const json::json_pointer ptr(pointer);
  if (!root.is_object() || !root.contains(ptr)) return nullptr;
  const json& value = root.at(ptr);
  return value.is_null() ? nullptr : &value;
}

std::optional<double> Number(const json& root, const char* pointer) {
  const json* v = Find(root, pointer);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

std::optional<std::string> String(const json& root, const char* pointer) {
  const json* v = Find(root, pointer);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

// OMP_NUM_THREADS may be a per-nesting-level list ("4,2"); the first entry is the one that
// sizes the pool a benchmark's parallel regions run on.
std::optional<long long> LeadingThreadCount(std::string_view value) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  long long n = 0;
  const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || ptr == value.data()) return std::nullopt;
  const std::string_view rest(ptr, static_cast<std::size_t>(value.data() + value.size() - ptr));
  if (!rest.empty() && rest.front() != ',' && rest.front() != ' ') return std::nullopt;
  return n;
}

std::string FormatCores(double cores) {
  return cores == std::floor(cores) ? fmt::format("{}", static_cast<long long>(cores))
                                    : fmt::format("{:.2f}", cores);
}

void CheckBlas(const json& fp, std::vector<Finding>& out) {
  // LibTorch's view wins: it is taken after a matmul has loaded whatever BLAS LibTorch uses.
  std::optional<std::string> blas = String(fp, "/libtorch/blas");
  if (!blas) blas = String(fp, "/blas/detected");
  if (!blas) return;
  if (*blas == "reference") {
    out.push_back({Finding::Level::kWarning,
                   "the reference (netlib) BLAS is loaded: every matmul many times slower than "
                   "with an optimised BLAS, so results measure the BLAS, not the framework",
                   "apt-get install libopenblas0-pthread, or select an installed one with "
                   "update-alternatives --config libblas.so.3-x86_64-linux-gnu",
                   "blas.reference"});
  } else if (*blas == "unknown") {
    std::string libs;
    if (const json* list = Find(fp, "/libtorch/blas_libraries"); list && list->is_array()) {
      libs = list->empty() ? "none" : list->dump();
    } else if (const json* l = Find(fp, "/blas/libraries"); l && l->is_array()) {
      libs = l->empty() ? "none" : l->dump();
    }
    out.push_back({Finding::Level::kWarning,
                   fmt::format("could not tell which BLAS serves matmuls (BLAS/LAPACK libraries "
                               "mapped: {}), so results cannot be attributed or compared",
                               libs.empty() ? "unknown" : libs),
                   "use OpenBLAS or MKL, e.g. apt-get install libopenblas0-pthread; "
                   "`ldd $(which fwbench) | grep -i blas` shows what is linked",
                   "blas.unknown"});
  }
}

// Cores the benchmark can really run on: the affinity mask, further capped by a cgroup quota.
std::optional<double> EffectiveCores(const json& fp) {
  std::optional<double> cores = Number(fp, "/cpu/usable_cores");
  if (!cores) cores = Number(fp, "/cpu/logical_cores");
  if (const auto quota = Number(fp, "/cpu/cgroup_cpu_limit")) {
    cores = cores ? std::min(*cores, *quota) : *quota;
  }
  return cores;
}

void CheckOversubscription(const json& fp, int threads, std::vector<Finding>& out) {
  const auto cores = EffectiveCores(fp);
  if (threads <= 0 || !cores || static_cast<double>(threads) <= *cores) return;
  out.push_back(
      {Finding::Level::kWarning,
       fmt::format(
           "{} threads requested but only {} cores are usable under this "
           "process's CPU affinity and cgroup quota: threads time-share cores, timings inflate and "
           "vary from run to run",
           threads, FormatCores(*cores)),
       fmt::format("request at most {} threads, or give the process more cores "
                   "with taskset or docker --cpus",
                   static_cast<long long>(std::max(1.0, std::floor(*cores)))),
       "threads.oversubscribed"});
}

void CheckThreadEnv(const json& fp, int threads, std::vector<Finding>& out) {
  if (threads <= 0) return;
  for (const char* name : {"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"}) {
    const std::string pointer = std::string("/env/") + name;
    const auto value = String(fp, pointer.c_str());
    if (!value) continue;
    const auto n = LeadingThreadCount(*value);
    if (n && *n == threads) continue;
    // OpenBLAS's own pool at 1 is what every trial sets too (one compute pool per trial).
    if (n && *n == 1 && std::string_view(name) == "OPENBLAS_NUM_THREADS") continue;
    // fwbench's trials set their own (docs/workers.md, "Thread pools"); the variable still
    // sizes the pools of everything else started from this shell, fwbench's own matmul probe
    // included.
    out.push_back({Finding::Level::kInfo,
                   fmt::format("{}={} disagrees with the {} threads requested: fwbench's trials "
                               "override it (one compute pool per trial), but programs you start "
                               "from this shell size their OpenMP/BLAS pools by it",
                               name, *value, threads),
                   fmt::format("unset {} or set it to {}", name, threads), "env.thread_count"});
  }
}

constexpr double kOtherCoresBusy = 0.25;

void CheckLoad(const json& fp, std::vector<Finding>& out) {
  std::optional<double> cores = Number(fp, "/cpu/usable_cores");
  if (!cores) cores = Number(fp, "/cpu/logical_cores");
  if (const auto other = Number(fp, "/cpu_activity/other_cores")) {
    // Measured over half a second: the load average would also count threads asleep in the
    // kernel (on the VM this was developed on it read 1.4 with nothing running).
    if (*other > kOtherCoresBusy) {
      std::string top;
      if (const json* list = Find(fp, "/cpu_activity/top"); list != nullptr && list->is_array()) {
        for (const json& p : *list) {
          if (!p.is_object() || p.value("cores", 0.0) < 0.05) continue;
          top += fmt::format("{}{} (pid {}) {:.2f}", top.empty() ? "" : ", ",
                             p.value("command", "?"), p.value("pid", 0), p.value("cores", 0.0));
        }
      }
      out.push_back({Finding::Level::kWarning,
                     fmt::format("other processes kept {:.2f} cores busy while fwbench was idle{}: "
                                 "trials would compete with them for CPU and caches and come out "
                                 "slower and noisier",
                                 *other, top.empty() ? "" : " (" + top + ")"),
                     "stop them or wait for them to finish; otherwise pin fwbench to idle cores "
                     "with taskset",
                     "load.busy"});
    }
    const auto runnable = Number(fp, "/cpu_activity/runnable");
    if (runnable && cores && *runnable > *cores) {
      out.push_back({Finding::Level::kWarning,
                     fmt::format("{:.0f} threads were runnable on {} usable cores while fwbench "
                                 "was idle: the machine is oversubscribed before any trial starts",
                                 *runnable, FormatCores(*cores)),
                     "find the busy programs with top (press H for threads) and stop them",
                     "load.oversubscribed"});
    }
    return;
  }
  const auto load = Number(fp, "/load/loadavg_1m");
  if (!load || !cores || *load <= 0.5 * *cores) return;
  out.push_back({Finding::Level::kWarning,
                 fmt::format("1-minute load average is {:.2f} on {} usable cores while fwbench "
                             "is idle: other work is running, so trials compete for CPU and "
                             "caches and come out slower and noisier; in a container the load "
                             "average is the host's",
                             *load, FormatCores(*cores)),
                 "find and stop the other load with top, or wait for it to finish; "
                 "otherwise pin fwbench to idle cores with taskset",
                 "load.busy"});
}

void CheckGovernor(const json& fp, std::vector<Finding>& out) {
  const auto governor = String(fp, "/cpu/governor");
  if (!governor || *governor == "performance") return;
  out.push_back({Finding::Level::kInfo,
                 fmt::format("CPU frequency governor is '{}', not 'performance': clocks ramp up "
                             "with load, so short trials and warm-up run slower and vary more",
                             *governor),
                 "sudo cpupower frequency-set -g performance", "cpu.governor"});
}

void CheckMemory(const json& fp, std::vector<Finding>& out) {
  constexpr double kLowBytes = 2.0 * 1024 * 1024 * 1024;
  const auto available = Number(fp, "/memory/available_bytes");
  if (!available || *available >= kLowBytes) return;
  out.push_back({Finding::Level::kWarning,
                 fmt::format("only {:.2f} GiB of memory available: large models or batches may "
                             "swap or be OOM-killed, and the page cache cannot hold datasets",
                             *available / (1024.0 * 1024 * 1024)),
                 "close other programs, or use smaller models and batch sizes", "memory.low"});
}

void CheckCoreType(const json& fp, std::vector<Finding>& out) {
  const auto coretype = String(fp, "/env/OPENBLAS_CORETYPE");
  if (!coretype) return;
  out.push_back({Finding::Level::kInfo,
                 fmt::format("OPENBLAS_CORETYPE={} pins OpenBLAS to that CPU's kernels instead "
                             "of the ones detected for this CPU, which can slow numpy/OpenBLAS",
                             *coretype),
                 "unset OPENBLAS_CORETYPE unless it works around a CPU misdetection",
                 "env.openblas_coretype"});
}

}  // namespace

std::vector<Finding> Diagnose(const nlohmann::json& fingerprint, int threads_requested) {
  std::vector<Finding> out;
  CheckBlas(fingerprint, out);
  CheckOversubscription(fingerprint, threads_requested, out);
  CheckThreadEnv(fingerprint, threads_requested, out);
  CheckLoad(fingerprint, out);
  CheckGovernor(fingerprint, out);
  CheckMemory(fingerprint, out);
  CheckCoreType(fingerprint, out);
  return out;
}

std::string FormatFindings(const std::vector<Finding>& findings) {
  if (findings.empty()) return "no problems found\n";
  std::string out;
  for (const Finding& f : findings) {
    out += f.level == Finding::Level::kWarning ? "warning: " : "note: ";
    out += f.what;
    if (!f.fix.empty()) out += fmt::format(" (fix: {})", f.fix);
    out += '\n';
  }
  return out;
}

}  // namespace fwbench
