#pragma once
// Runs the fwbench binary under test through the shell and captures its output.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

namespace fwbench::testing {

struct Output {
  int code = -1;
  std::string text;  // stdout + stderr
};

// `env`: "NAME=value …" assignments put before the command (through the shell).
inline Output RunFwbench(const std::string& args, const std::string& env = "") {
  const std::string cmd =
      (env.empty() ? "" : env + " ") + std::string(FWBENCH_BINARY) + " " + args + " 2>&1";
  Output out;
  FILE* pipe = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe) != nullptr) out.text += buf.data();
  const int status = pclose(pipe);
  out.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// An empty folder /tmp/fwbench_<name> for one test's --out (each test names its own).
inline std::filesystem::path FreshDir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("fwbench_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// The only run folder under `out` (each test uses its own `out`).
inline std::filesystem::path RunDir(const std::filesystem::path& out) {
  for (const auto& entry : std::filesystem::directory_iterator(out)) {
    if (entry.is_directory() && entry.path().filename() != "cache") return entry.path();
  }
  return {};
}

}  // namespace fwbench::testing
