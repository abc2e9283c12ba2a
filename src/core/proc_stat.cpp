#include "core/proc_stat.h"

#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include "core/clock.h"

namespace fwbench {

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

double TicksToSeconds(std::int64_t ticks) {
  static const long hz = sysconf(_SC_CLK_TCK);
  return static_cast<double>(ticks) / static_cast<double>(hz > 0 ? hz : 100);
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

namespace {

// user nice system idle iowait irq softirq steal … (guest time is already inside user).
std::optional<std::vector<std::int64_t>> CpuLineFields(const std::string& cpu_line) {
  std::istringstream in(cpu_line);
  std::string label;
  if (!(in >> label) || label != "cpu") return std::nullopt;
  std::vector<std::int64_t> v;
  for (std::int64_t x = 0; in >> x;) v.push_back(x);
  if (v.size() < 8) return std::nullopt;
  return v;
}

}  // namespace

std::optional<std::int64_t> ProcStatBusyTicks(const std::string& cpu_line) {
  const auto v = CpuLineFields(cpu_line);
  if (!v) return std::nullopt;
  return (*v)[0] + (*v)[1] + (*v)[2] + (*v)[5] + (*v)[6] + (*v)[7];
}

std::optional<std::int64_t> ProcStatStealTicks(const std::string& cpu_line) {
  const auto v = CpuLineFields(cpu_line);
  if (!v) return std::nullopt;
  return (*v)[7];
}

std::optional<int> LoadavgRunnable(const std::string& loadavg) {
  std::istringstream in(loadavg);
  std::string a, b, c, rt;
  if (!(in >> a >> b >> c >> rt)) return std::nullopt;
  const auto slash = rt.find('/');
  if (slash == std::string::npos || slash == 0) return std::nullopt;
  try {
    return std::stoi(rt.substr(0, slash));
  } catch (const std::exception&) {
    return std::nullopt;
  }
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
  const auto busy0 = ProcStatBusyTicks(ReadFirstLine("/proc/stat"));
  const auto procs0 = ProcessTicks();
  const std::int64_t t0 = MonotonicNs();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const auto busy1 = ProcStatBusyTicks(ReadFirstLine("/proc/stat"));
  const auto procs1 = ProcessTicks();
  const double window = static_cast<double>(MonotonicNs() - t0) * 1e-9;
  const auto runnable = LoadavgRunnable(ReadFirstLine("/proc/loadavg"));
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
  const double busy = TicksToSeconds(*busy1 - *busy0) / window;
  return {{"window_s", window},
          {"other_cores", std::max(0.0, busy - self_cores)},
          {"runnable", runnable ? nlohmann::json(std::max(0, *runnable - 1)) : nlohmann::json()},
          {"top", top}};
}

}  // namespace fwbench
