#pragma once
// Runs the fwbench binary under test through the shell and captures its output.
#include <sys/wait.h>

#include <array>
#include <cstdio>
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

}  // namespace fwbench::testing
