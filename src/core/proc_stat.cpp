#include "core/proc_stat.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/env_fingerprint.h"

namespace fwbench {

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::optional<std::int64_t> ParseProcStatusBytes(const std::string& status,
                                                 const std::string& key) {
  const std::string prefix = key + ":";
  std::istringstream in(status);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with(prefix)) continue;
    std::istringstream fields(line.substr(prefix.size()));
    std::int64_t value = 0;
    std::string unit;
    if (!(fields >> value) || value < 0) return std::nullopt;
    fields >> unit;
    return unit == "kB" ? value * 1024 : value;
  }
  return std::nullopt;
}

std::optional<std::int64_t> ProcStatusBytes(const std::string& pid, const std::string& key) {
  std::ifstream in("/proc/" + pid + "/status");
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return ParseProcStatusBytes(text.str(), key);
}

double TicksToSeconds(std::int64_t ticks) {
  static const long hz = sysconf(_SC_CLK_TCK);
  return static_cast<double>(ticks) / static_cast<double>(hz > 0 ? hz : 100);
}

double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

std::optional<std::int64_t> ProcStatCpuTicks(const std::string& stat_line) {
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so fields are counted
  // from the last ')'. utime and stime are fields 14 and 15, i.e. the 12th and 13th after it.
  const auto close = stat_line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream in(stat_line.substr(close + 1));
  std::string field;
  std::int64_t utime = 0;
  std::int64_t stime = 0;
  for (int i = 1; i <= 13; ++i) {
    if (!(in >> field)) return std::nullopt;
    try {
      if (i == 12) utime = std::stoll(field);
      if (i == 13) stime = std::stoll(field);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return utime + stime;
}

std::optional<char> ProcStatState(const std::string& stat_line) {
  const auto close = stat_line.rfind(')');
  if (close == std::string::npos || close + 2 >= stat_line.size() || stat_line[close + 1] != ' ') {
    return std::nullopt;
  }
  const char state = stat_line[close + 2];
  if (!std::isalpha(static_cast<unsigned char>(state))) return std::nullopt;
  return state;
}

int RunningThreadsOfSelf() {
  int running = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    if (ProcStatState(ReadFirstLine(entry.path().string() + "/stat")) == 'R') ++running;
  }
  return running;
}

std::optional<CpuTicks> ParseCpuLine(const std::string& line, std::string& label) {
  std::istringstream in(line);
  if (!(in >> label) || !label.starts_with("cpu")) return std::nullopt;
  if (label.size() > 3 && !std::all_of(label.begin() + 3, label.end(), ::isdigit)) {
    return std::nullopt;
  }
  // user nice system idle iowait irq softirq steal … (guest time is already inside user).
  std::vector<std::int64_t> v;
  for (std::int64_t x = 0; in >> x;) v.push_back(x);
  if (v.size() < 8) return std::nullopt;
  return CpuTicks{v[0] + v[1] + v[2] + v[5] + v[6] + v[7], v[7]};
}

namespace {

std::optional<cpu_set_t> Affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return std::nullopt;
  return set;
}

}  // namespace

std::optional<CpuTicks> AllowedCpuTicks() {
  const auto allowed = Affinity();
  std::ifstream in("/proc/stat");
  CpuTicks sum;
  bool any = false;
  for (std::string line, label; std::getline(in, line);) {
    const auto t = ParseCpuLine(line, label);
    if (!t || label == "cpu") continue;
    const int cpu = std::stoi(label.substr(3));
    if (allowed && (cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &*allowed))) continue;
    sum.busy += t->busy;
    sum.steal += t->steal;
    any = true;
  }
  if (!any) return std::nullopt;
  return sum;
}

bool AffinityCoversAllCpus() {
  const auto usable = UsableCores();
  if (!usable) return false;
  std::ifstream in("/proc/stat");
  int listed = 0;
  for (std::string line, label; std::getline(in, line);) {
    if (ParseCpuLine(line, label) && label != "cpu") ++listed;
  }
  return listed > 0 && *usable >= listed;
}

std::optional<int> LoadavgRunnable(const std::string& loadavg) {
  const nlohmann::json running = ParseLoadavg(loadavg)["running_processes"];
  if (!running.is_number_integer()) return std::nullopt;
  return running.get<int>();
}

namespace {

// CPU ticks of every process now, by pid, with its command name.
std::map<int, std::pair<std::int64_t, std::string>> ProcessTicks() {
  std::map<int, std::pair<std::int64_t, std::string>> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    const std::string line = ReadFirstLine(entry.path().string() + "/stat");
    const auto ticks = ProcStatCpuTicks(line);
    const auto open = line.find('(');
    const auto close = line.rfind(')');
    if (!ticks || open == std::string::npos || close == std::string::npos) continue;
    out[std::stoi(name)] = {*ticks, line.substr(open + 1, close - open - 1)};
  }
  return out;
}

}  // namespace

nlohmann::json SampleCpuActivity(double seconds) {
  const auto busy0 = AllowedCpuTicks();
  const auto procs0 = ProcessTicks();
  const std::int64_t t0 = MonotonicNs();
  // Ten looks at the runnable count over the window, not one: it changes by the microsecond.
  const bool whole_machine = AffinityCoversAllCpus();
  std::vector<int> runnable;
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds / 10));
    if (const auto r = LoadavgRunnable(ReadFirstLine("/proc/loadavg")); r && whole_machine) {
      runnable.push_back(std::max(0, *r - 1));  // the reader itself is running
    }
  }
  const auto busy1 = AllowedCpuTicks();
  const auto procs1 = ProcessTicks();
  const double window = static_cast<double>(MonotonicNs() - t0) * 1e-9;
  if (!busy0 || !busy1 || window <= 0) return nullptr;
  const int self = static_cast<int>(getpid());
  double self_cores = 0.0;
  std::vector<nlohmann::json> top;
  for (const auto& [pid, now] : procs1) {
    const auto before = procs0.find(pid);
    const std::int64_t ticks = now.first - (before != procs0.end() ? before->second.first : 0);
    const double cores = TicksToSeconds(ticks) / window;
    if (pid == self) {
      self_cores = cores;
    } else if (ticks > 0) {
      top.push_back({{"pid", pid}, {"command", now.second}, {"cores", cores}});
    }
  }
  std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) {
    return a["cores"].template get<double>() > b["cores"].template get<double>();
  });
  if (top.size() > 3) top.resize(3);
  const double busy = TicksToSeconds(busy1->busy - busy0->busy) / window;
  nlohmann::json median_runnable = nullptr;
  if (!runnable.empty()) {
    std::nth_element(runnable.begin(), runnable.begin() + runnable.size() / 2, runnable.end());
    median_runnable = runnable[runnable.size() / 2];
  }
  return {{"window_s", window},
          {"other_cores", std::max(0.0, busy - self_cores)},
          {"steal_cores", TicksToSeconds(busy1->steal - busy0->steal) / window},
          {"runnable", median_runnable},
          {"top", top}};
}

}  // namespace fwbench
