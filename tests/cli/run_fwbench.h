#pragma once
// Runs the fwbench binary under test through the shell and captures its output.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

// A whole file as text; empty when it cannot be read.
inline std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The JSON objects of a JSON Lines file (trials.jsonl, events.jsonl); unparsable lines left out.
inline std::vector<nlohmann::json> ReadLines(const std::filesystem::path& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

}  // namespace fwbench::testing
