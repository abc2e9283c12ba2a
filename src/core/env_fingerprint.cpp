#include "core/env_fingerprint.h"

#include "core/proc_stat.h"

#include <dlfcn.h>
#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_set>

#include "core/text.h"

namespace fwbench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Whole small text file, or nullopt. /proc and /sys files report size 0, so read by stream.
std::optional<std::string> ReadTextFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return out.str();
}

std::string_view Trim(std::string_view s) {
  const auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Calls f(line) for each line of text (without the newline).
void ForEachLine(std::string_view text, const std::function<void(std::string_view)>& f) {
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    f(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

// Splits "key : value" at the first colon; both sides trimmed.
bool SplitKeyValue(std::string_view line, std::string_view& key, std::string_view& value) {
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  key = Trim(line.substr(0, colon));
  value = Trim(line.substr(colon + 1));
  return true;
}

std::optional<double> ParseDouble(std::string_view s) {
  s = Trim(s);
  double v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr == s.data()) return std::nullopt;
  return v;
}

std::optional<long long> ParseInt(std::string_view s) {
  s = Trim(s);
  long long v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr == s.data()) return std::nullopt;
  return v;
}

template <typename T>
json OrNull(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

// Runs one section's collector; a failure (even bad_alloc from a huge /proc file) turns that
// section into null instead of losing the whole fingerprint and with it the benchmark run.
json Guarded(const std::function<json()>& collect) {
  try {
    return collect();
  } catch (const std::exception&) {
    return nullptr;
  }
}

// Flags whose presence decides which kernels oneDNN/OpenBLAS/MKL dispatch to, so two results
// differing in one of these are not comparable.
constexpr std::array<std::string_view, 10> kNotableFlags = {
    "avx",  "avx2",  "avx512f", "avx512_bf16", "amx_tile", "fma",
    "f16c", "asimd", "sve",     "sve2"};  // the last three: the Arm counterparts (Graviton, Grace)

// A container's CPU quota is invisible to sched_getaffinity but throttles threads just the same.
std::optional<double> CgroupCpuLimit() {
  if (auto v2 = ReadTextFile("/sys/fs/cgroup/cpu.max")) return ParseCgroupCpuMax(*v2);
  for (const char* dir : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
    const auto quota = ReadTextFile(fs::path(dir) / "cpu.cfs_quota_us");
    const auto period = ReadTextFile(fs::path(dir) / "cpu.cfs_period_us");
    if (!quota || !period) continue;
    const auto q = ParseInt(*quota);
    const auto p = ParseInt(*period);
    if (!q || !p || *q <= 0 || *p <= 0) return std::nullopt;  // -1: no quota
    return static_cast<double>(*q) / static_cast<double>(*p);
  }
  return std::nullopt;
}

// Socket count from sysfs, for CPUs (e.g. Arm) whose /proc/cpuinfo has no "physical id".
std::optional<int> SysfsSockets() {
  std::set<std::string> packages;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/sys/devices/system/cpu", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("cpu", 0) != 0 || name.size() < 4 ||
        !std::isdigit(static_cast<unsigned char>(name[3]))) {
      continue;
    }
    if (auto id = ReadTextFile(entry.path() / "topology" / "physical_package_id")) {
      packages.emplace(Trim(*id));
    }
  }
  if (packages.empty()) return std::nullopt;
  return static_cast<int>(packages.size());
}

json CollectCpu() {
  json cpu = ParseCpuInfo(ReadTextFile("/proc/cpuinfo").value_or(""));
  if (cpu["sockets"].is_null()) cpu["sockets"] = OrNull(SysfsSockets());
  const unsigned hc = std::thread::hardware_concurrency();
  cpu["logical_cores"] = hc > 0 ? json(hc) : json(nullptr);
  cpu["usable_cores"] = OrNull(UsableCores());
  cpu["cgroup_cpu_limit"] = OrNull(CgroupCpuLimit());
  const auto governor = ReadTextFile("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
  cpu["governor"] = governor ? json(std::string(Trim(*governor))) : json(nullptr);
  return cpu;
}

json CollectMemory() {
  const std::string meminfo = ReadTextFile("/proc/meminfo").value_or("");
  return {{"total_bytes", OrNull(ParseMeminfoBytes(meminfo, "MemTotal"))},
          {"available_bytes", OrNull(ParseMeminfoBytes(meminfo, "MemAvailable"))}};
}

json CollectOs() {
  json os = {{"kernel", nullptr},
             {"kernel_release", nullptr},
             {"arch", nullptr},
             {"distro", nullptr},
             {"hostname", nullptr}};
  utsname u{};
  if (uname(&u) == 0) {
    os["kernel"] = u.sysname;
    os["kernel_release"] = u.release;
    os["arch"] = u.machine;
    os["hostname"] = u.nodename;
  }
  if (auto text = ReadTextFile("/etc/os-release")) {
    os["distro"] = OrNull(ParseOsReleaseField(*text, "PRETTY_NAME"));
  }
  return os;
}

json CollectEnvVars() {
  json env = json::object();
  for (const std::string& name : ThreadEnvVarNames()) {
    const char* value = std::getenv(name.c_str());
    env[name] = value != nullptr ? json(value) : json(nullptr);
  }
  return env;
}

json CollectGpus() {
  json gpus = json::array();
  std::error_code ec;
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator("/proc/driver/nvidia/gpus", ec)) {
    dirs.push_back(entry.path());
  }
  std::sort(dirs.begin(), dirs.end());  // bus order, so GPU 0 is listed first across runs
  for (const auto& dir : dirs) {
    const auto text = ReadTextFile(dir / "information");
    if (!text) continue;
    json gpu = ParseNvidiaGpuInformation(*text);
    gpu["pci_bus_id"] = dir.filename().string();
    gpus.push_back(std::move(gpu));
  }
  return gpus;
}

json CollectGpuDriver() {
  const auto text = ReadTextFile("/proc/driver/nvidia/version");
  if (!text) return nullptr;
  const std::string_view first = Trim(std::string_view(*text).substr(0, text->find('\n')));
  return first.empty() ? json(nullptr) : json(std::string(first));
}

json CollectBlas() {
  const std::vector<std::string> libs = LoadedSharedLibraries();
  const std::string provider = SymbolProvider("sgemm_");
  return {{"detected", DetectBlas(libs)},
          {"libraries", BlasLibraries(libs)},
          {"sgemm_provider", provider.empty() ? json(nullptr) : json(provider)}};
}

std::string TimestampUtc() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

// True when a file name is a shared object: "libx.so", "libx.so.3", "libx.so.3.11.0".
bool IsSharedObjectName(std::string_view name) {
  for (std::size_t pos = name.find(".so"); pos != std::string_view::npos;
       pos = name.find(".so", pos + 1)) {
    const std::size_t after = pos + 3;
    if (after == name.size() || name[after] == '.') return true;
  }
  return false;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool IsBlasName(std::string_view base) {
  for (std::string_view p : {"libblas", "libcblas", "librefblas", "libopenblas", "libmkl",
                             "libblis", "libatlas", "libsatlas", "libtatlas", "libf77blas"}) {
    if (StartsWith(base, p)) return true;
  }
  return base.find("openblas") != std::string_view::npos;  // e.g. libscipy_openblas64_-*.so
}

bool IsLapackName(std::string_view base) {
  return StartsWith(base, "liblapack") || StartsWith(base, "libflame");
}

}  // namespace

nlohmann::json ParseCpuInfo(std::string_view text) {
  json model = nullptr, vendor = nullptr, mhz = nullptr, sockets = nullptr;
  json flags = nullptr;
  std::set<std::string> physical_ids;
  ForEachLine(text, [&](std::string_view line) {
    std::string_view key, value;
    if (!SplitKeyValue(line, key, value)) return;
    // x86 says "model name"; Arm kernels that name the CPU at all say "Processor" or "model name".
    if ((key == "model name" || key == "Processor") && model.is_null() && !value.empty()) {
      model = std::string(value);
    } else if (key == "vendor_id" && vendor.is_null()) {
      vendor = std::string(value);
    } else if ((key == "flags" || key == "Features") && flags.is_null()) {
      flags = json::array();
      std::istringstream words{std::string(value)};
      for (std::string w; words >> w;) flags.push_back(w);
    } else if (key == "cpu MHz" && mhz.is_null()) {
      mhz = OrNull(ParseDouble(value));
    } else if (key == "physical id") {
      physical_ids.emplace(value);
    }
  });
  if (!physical_ids.empty()) sockets = physical_ids.size();
  json notable = nullptr;
  if (flags.is_array()) {
    notable = json::array();
    for (std::string_view f : kNotableFlags) {
      if (std::find(flags.begin(), flags.end(), json(std::string(f))) != flags.end()) {
        notable.push_back(std::string(f));
      }
    }
  }
  return {{"model", model},     {"vendor", vendor},   {"flags", flags},
          {"notable", notable}, {"sockets", sockets}, {"mhz", mhz}};
}

std::optional<long long> ParseMeminfoBytes(std::string_view text, std::string_view key) {
  std::optional<long long> result;
  ForEachLine(text, [&](std::string_view line) {
    std::string_view k, v;
    if (result || !SplitKeyValue(line, k, v) || k != key) return;
    std::istringstream in{std::string(v)};
    long long amount = 0;
    std::string unit;
    if (!(in >> amount)) return;
    in >> unit;
    if (unit.empty()) {
      result = amount;
    } else if (unit == "kB") {  // the kernel's "kB" is KiB
      result = amount * 1024;
    }
  });
  return result;
}

nlohmann::json ParseLoadavg(std::string_view text) {
  // "0.23 0.31 0.17 1/87 6259": three averages, running/total scheduling entities, last pid.
  json out = {{"loadavg_1m", nullptr},
              {"loadavg_5m", nullptr},
              {"loadavg_15m", nullptr},
              {"running_processes", nullptr},
              {"total_processes", nullptr}};
  std::istringstream in{std::string(text)};
  std::string a, b, c, procs;
  if (!(in >> a >> b >> c)) return out;
  out["loadavg_1m"] = OrNull(ParseDouble(a));
  out["loadavg_5m"] = OrNull(ParseDouble(b));
  out["loadavg_15m"] = OrNull(ParseDouble(c));
  if (in >> procs) {
    const std::size_t slash = procs.find('/');
    if (slash != std::string::npos) {
      out["running_processes"] = OrNull(ParseInt(std::string_view(procs).substr(0, slash)));
      out["total_processes"] = OrNull(ParseInt(std::string_view(procs).substr(slash + 1)));
    }
  }
  return out;
}

std::optional<std::string> ParseOsReleaseField(std::string_view text, std::string_view key) {
  std::optional<std::string> result;
  ForEachLine(text, [&](std::string_view line) {
    line = Trim(line);
    const std::size_t eq = line.find('=');
    if (result || eq == std::string_view::npos || line.substr(0, eq) != key) return;
    std::string_view value = line.substr(eq + 1);
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    result = std::string(value);
  });
  return result;
}

nlohmann::json ParseNvidiaGpuInformation(std::string_view text) {
  // "Model: \t\t NVIDIA H100 80GB HBM3" → {"model": "NVIDIA H100 80GB HBM3"}.
  json out = json::object();
  ForEachLine(text, [&](std::string_view line) {
    std::string_view key, value;
    if (!SplitKeyValue(line, key, value) || key.empty()) return;
    std::string k = ToLower(key);
    std::replace(k.begin(), k.end(), ' ', '_');
    std::replace(k.begin(), k.end(), '.', '_');
    out[k] = std::string(value);
  });
  return out;
}

std::optional<double> ParseCgroupCpuMax(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string quota, period;
  if (!(in >> quota >> period) || quota == "max") return std::nullopt;
  const auto q = ParseDouble(quota);
  const auto p = ParseDouble(period);
  if (!q || !p || *q <= 0 || *p <= 0) return std::nullopt;
  return *q / *p;
}

const std::vector<std::string>& ThreadEnvVarNames() {
  static const std::vector<std::string> names = {
      "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE",
      "OPENBLAS_L2_SIZE", "KMP_AFFINITY", "GOMP_CPU_AFFINITY", "CUDA_VISIBLE_DEVICES",
      // Not in every list of usual suspects, but each one changes thread placement or count:
      "OMP_PROC_BIND", "OMP_PLACES", "OMP_DYNAMIC", "MKL_DYNAMIC", "KMP_BLOCKTIME",
      "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
      // ...or which BLAS gets loaded at all.
      "LD_PRELOAD", "LD_LIBRARY_PATH"};
  return names;
}

std::vector<std::string> LoadedSharedLibraries() {
  std::vector<std::string> libs;
  try {
    const auto maps = ReadTextFile("/proc/self/maps");
    if (!maps) return libs;
    std::unordered_set<std::string> seen;
    ForEachLine(*maps, [&](std::string_view line) {
      // "start-end perms offset dev inode   path": the path is everything after the 5th field
      // (it may contain spaces).
      std::size_t pos = 0;
      for (int field = 0; field < 5 && pos != std::string_view::npos; ++field) {
        pos = line.find_first_not_of(' ', pos);
        if (pos != std::string_view::npos) pos = line.find(' ', pos);
      }
      if (pos == std::string_view::npos) return;
      std::string_view path = Trim(line.substr(pos));
      constexpr std::string_view kDeleted = " (deleted)";
      if (path.size() > kDeleted.size() && path.substr(path.size() - kDeleted.size()) == kDeleted) {
        path.remove_suffix(kDeleted.size());
      }
      if (path.empty() || path.front() != '/') return;  // [heap], [vdso], anonymous
      const std::size_t slash = path.rfind('/');
      if (!IsSharedObjectName(path.substr(slash + 1))) return;
      if (seen.emplace(path).second) libs.emplace_back(path);
    });
  } catch (const std::exception&) {
    // A partial list is still worth reporting.
  }
  return libs;
}

std::string ClassifyBlasLibrary(std::string_view path) {
  const std::string lower = ToLower(path);
  const std::size_t slash = lower.rfind('/');
  const std::string_view base = slash == std::string::npos
                                    ? std::string_view(lower)
                                    : std::string_view(lower).substr(slash + 1);
  const std::string_view dir = slash == std::string::npos
                                   ? std::string_view()
                                   : std::string_view(lower).substr(0, slash + 1);

  if (lower.find("accelerate.framework") != std::string::npos ||
      lower.find("veclib.framework") != std::string::npos) {
    return "accelerate";
  }
  if (!IsBlasName(base) && !IsLapackName(base)) return "";

  // Debian/Ubuntu install each implementation's libblas.so.3/liblapack.so.3 into its own
  // directory and pick one with update-alternatives; the directory names the implementation.
  if (dir.find("/openblas-pthread/") != std::string_view::npos) return "openblas-pthread";
  if (dir.find("/openblas-openmp/") != std::string_view::npos) return "openblas-openmp";
  if (dir.find("/openblas-serial/") != std::string_view::npos) return "openblas-serial";
  if (dir.find("/blis") != std::string_view::npos) return "blis";  // blis-pthread, blis-openmp
  if (dir.find("/atlas/") != std::string_view::npos) return "unknown";
  if (dir.find("/mkl/") != std::string_view::npos || StartsWith(base, "libmkl")) return "mkl";

  if (base.find("openblas") != std::string_view::npos) {
    // OpenBLAS names its build libopenblas[64_]{p,o,}-r<version>: p = pthreads, o = OpenMP,
    // neither = single-threaded (Debian, Fedora and upstream `make install` all follow this).
    static const std::regex kVariant("openblas(?:64)?_?([po]?)-r");
    std::cmatch m;
    const std::string b(base);
    if (std::regex_search(b.c_str(), m, kVariant)) {
      const std::string v = m[1].str();
      return v == "p" ? "openblas-pthread" : v == "o" ? "openblas-openmp" : "openblas-serial";
    }
    return "openblas";
  }
  if (StartsWith(base, "libblis")) return "blis";
  if (StartsWith(base, "libatlas") || StartsWith(base, "libsatlas") ||
      StartsWith(base, "libtatlas") || StartsWith(base, "libf77blas")) {
    return "unknown";  // ATLAS: a tuned BLAS, but not one we tell apart
  }
  if (IsLapackName(base)) return "";  // LAPACK alone says nothing about which BLAS runs gemm
  // What remains is libblas/libcblas/librefblas outside any implementation's directory:
  // netlib's reference code, which is what distributions ship under that plain name.
  return "reference";
}

std::string DetectBlas(const std::vector<std::string>& libs) {
  std::set<std::string> kinds;
  for (const std::string& lib : libs) {
    std::error_code ec;
    const fs::path resolved = fs::canonical(lib, ec);
    const std::string kind = ClassifyBlasLibrary(ec ? lib : resolved.string());
    if (!kind.empty()) kinds.insert(kind);
  }
  // First match wins: the reference BLAS because it is the one worth warning about (see the
  // header), then the specific before the generic.
  for (const char* kind : {"reference", "mkl", "openblas-pthread", "openblas-openmp",
                           "openblas-serial", "openblas", "blis", "accelerate"}) {
    if (kinds.count(kind) != 0) return kind;
  }
  return "unknown";
}

std::vector<std::string> BlasLibraries(const std::vector<std::string>& libs) {
  std::vector<std::string> out;
  for (const std::string& lib : libs) {
    const std::size_t slash = lib.rfind('/');
    const std::string base = ToLower(slash == std::string::npos ? lib : lib.substr(slash + 1));
    const std::string lower = ToLower(lib);
    if (IsBlasName(base) || IsLapackName(base) ||
        lower.find("accelerate.framework") != std::string::npos ||
        lower.find("veclib.framework") != std::string::npos) {
      out.push_back(lib);
    }
  }
  return out;
}

std::string SymbolProvider(const char* symbol) {
  void* address = dlsym(RTLD_DEFAULT, symbol);
  if (address == nullptr) return "";
  Dl_info info{};
  if (dladdr(address, &info) == 0 || info.dli_fname == nullptr) return "";
  return info.dli_fname;
}

nlohmann::json CollectEnvFingerprint() {
  json fp = json::object();
  fp["timestamp_utc"] = Guarded([] { return json(TimestampUtc()); });
  fp["fwbench"] = {{"version", FWBENCH_VERSION}, {"git_revision", FWBENCH_GIT_REV}};
  fp["compiler"] = FWBENCH_COMPILER;
  fp["build_type"] = FWBENCH_BUILD_TYPE;
  fp["cpu"] = Guarded(CollectCpu);
  fp["memory"] = Guarded(CollectMemory);
  fp["os"] = Guarded(CollectOs);
  fp["load"] = Guarded([] { return ParseLoadavg(ReadTextFile("/proc/loadavg").value_or("")); });
  // What else keeps the CPUs busy, measured, not inferred from the load average (which counts
  // threads in uninterruptible sleep, and a VM's or container's host): half a second of /proc.
  fp["cpu_activity"] = Guarded([] { return SampleCpuActivity(0.5); });
  fp["env"] = Guarded(CollectEnvVars);
  fp["blas"] = Guarded(CollectBlas);
  fp["gpu"] = Guarded(CollectGpus);
  fp["gpu_driver"] = Guarded(CollectGpuDriver);
  return fp;
}

std::optional<int> UsableCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return std::nullopt;
  return CPU_COUNT(&set);
}

int UsableCoreCount() {
  if (const auto n = UsableCores()) return std::max(1, *n);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace fwbench
