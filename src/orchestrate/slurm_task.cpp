#include "orchestrate/slurm_task.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "core/atomic_file.h"
#include "core/bounded_json.h"
#include "core/env_fingerprint.h"
#include "core/error.h"
#include "orchestrate/builtin_workers.h"
#include "orchestrate/process.h"

namespace fwbench {

namespace {

nlohmann::json ReadJsonFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(fmt::format("{}: cannot read it", path.string()));
  std::ostringstream s;
  s << in.rdbuf();
  nlohmann::json j = ParseJsonOrDiscard(s.str());
  if (j.is_discarded()) throw UsageError(fmt::format("{}: not valid JSON", path.string()));
  return j;
}

// Writes the whole line with its newline in one write(2) where it can, so that a reader tailing
// the file over a shared folder sees whole lines or nothing of them.
void AppendLine(int fd, std::string_view line) {
  std::string buffer;
  buffer.reserve(line.size() + 1);
  buffer.append(line);
  buffer.push_back('\n');
  std::size_t done = 0;
  while (done < buffer.size()) {
    const ssize_t n = write(fd, buffer.data() + done, buffer.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw WriteError(fmt::format("the task's stdout file: {}", std::strerror(errno)));
    }
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

std::string NodeName() {
  if (const char* n = std::getenv("SLURMD_NODENAME"); n != nullptr && *n != '\0') return n;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return host;
}

std::string MachineType(const nlohmann::json& fp) {
  const nlohmann::json& cpu = fp.value("cpu", nlohmann::json::object());
  const nlohmann::json& memory = fp.value("memory", nlohmann::json::object());
  std::string model = cpu.is_object() ? cpu.value("model", "unknown CPU") : "unknown CPU";
  const int cores = cpu.is_object() ? cpu.value("usable_cores", 0) : 0;
  const double gib =
      memory.is_object()
          ? std::round(static_cast<double>(memory.value("total_bytes", std::int64_t{0})) /
                       (1024.0 * 1024.0 * 1024.0))
          : 0.0;
  std::string type = fmt::format("{}, {} cores, {:.0f} GiB", model, cores, gib);
  std::map<std::string, int> gpus;
  if (const auto it = fp.find("gpu"); it != fp.end() && it->is_array()) {
    for (const nlohmann::json& g : *it) {
      if (g.is_object()) ++gpus[g.value("model", "GPU")];
    }
  }
  for (const auto& [name, count] : gpus) type += fmt::format(", {}× {}", count, name);
  return type;
}

int RunSlurmTask(const std::filesystem::path& tasks_file, std::size_t index) {
  const nlohmann::json table = ReadJsonFile(tasks_file);
  if (!table.is_array() || index >= table.size()) {
    throw UsageError(fmt::format("{}: no task {} (the table holds {})", tasks_file.string(), index,
                                 table.is_array() ? table.size() : 0));
  }
  const nlohmann::json& task = table[index];
  ProcessOptions options;
  options.argv = task.at("argv").get<std::vector<std::string>>();
  options.env = task.at("env").get<std::vector<std::string>>();
  options.stderr_path = task.at("stderr").get<std::string>();
  options.timeout_s = task.at("timeout_s").get<double>();
  options.max_line_bytes = task.value("max_line_bytes", options.max_line_bytes);
  const std::filesystem::path stdout_path = task.at("stdout").get<std::string>();
  const std::filesystem::path exit_path = task.at("exit").get<std::string>();
  const std::filesystem::path nodes_dir = task.at("nodes_dir").get<std::string>();
  const std::string node = NodeName();

  // The node's fingerprint, once per run and node, before the trial starts (it samples the
  // machine's activity for half a second, which must not overlap a measurement).
  std::string machine_type;
  const std::filesystem::path fp_path = nodes_dir / (node + ".json");
  if (std::filesystem::exists(fp_path)) {
    machine_type = ReadJsonFile(fp_path).value("machine_type", "");
  } else {
    nlohmann::json fp = CollectEnvFingerprint();
    if (fp["cpu_activity"].is_object()) fp["cpu_activity"].erase("top");
    machine_type = MachineType(fp);
    fp["node"] = node;
    fp["machine_type"] = machine_type;
    std::filesystem::create_directories(nodes_dir);
    WriteFileAtomically(fp_path, fp.dump(2) + "\n");
  }

  const int fd = open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw WriteError(
        fmt::format("{}: cannot create it: {}", stdout_path.string(), std::strerror(errno)));
  }
  const ProcessResult r = RunProcess(options, [&](std::string_view line) {
    AppendLine(fd, line);
    return true;
  });
  fsync(fd);
  close(fd);
  const nlohmann::json record = {{"trial", task.value("trial", "")},
                                 {"node", node},
                                 {"machine_type", machine_type},
                                 {"spawn_ns", r.spawn_ns},
                                 {"exit_ns", r.exit_ns},
                                 {"started", r.started},
                                 {"start_error", r.start_error},
                                 {"exit_code", r.exit_code},
                                 {"signal", r.term_signal},
                                 {"timed_out", r.timed_out},
                                 {"line_too_long", r.line_too_long},
                                 {"max_rss_bytes", r.max_rss_bytes},
                                 {"peak_rss_bytes", r.peak_rss_bytes},
                                 {"user_cpu_s", r.user_cpu_s},
                                 {"sys_cpu_s", r.sys_cpu_s}};
  WriteFileAtomically(exit_path, record.dump() + "\n");
  if (!r.started) return 1;
  return r.exit_code >= 0 ? r.exit_code : 128 + r.term_signal;
}

nlohmann::json CheckThisNode(const std::filesystem::path& needs_file) {
  const nlohmann::json needs = ReadJsonFile(needs_file);
  nlohmann::json out = {{"node", NodeName()}, {"missing", nlohmann::json::array()}};
  const nlohmann::json names = needs.value("builtin_workers", nlohmann::json::array());
  const nlohmann::json commands = needs.value("commands", nlohmann::json::object());
  std::set<std::string> builtin;
  for (const nlohmann::json& name : names) builtin.insert(name.get<std::string>());
  for (const auto& [backend, argv] : commands.items()) {
    if (builtin.contains(backend) || !argv.is_array() || argv.empty()) continue;
    const std::string program = argv[0].get<std::string>();
    const bool found = program.find('/') != std::string::npos ? IsExecutableFile(program)
                                                              : !FindOnPath(program).empty();
    if (!found) {
      out["missing"].push_back(
          {{"backend", backend},
           {"why", fmt::format("{} is not an executable file here", program)}});
    }
  }
  if (!builtin.empty()) {
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
    const auto python = needs.value("python_overrides", std::map<std::string, std::string>{});
    for (const BuiltinBackend& w : ProbeBuiltinWorkers(WorkersDir(self), python, builtin)) {
      if (builtin.contains(w.name) && !w.Available()) {
        out["missing"].push_back({{"backend", w.name}, {"why", w.unavailable}});
      }
    }
  }
  return out;
}

}  // namespace fwbench
