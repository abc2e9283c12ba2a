#pragma once
// What `fwbench doctor` says of the built-in workers, for tests that run a worker only where it
// can run, and fail where scripts/install-deps.sh made its environment and it still does not.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "run_fwbench.h"

namespace fwbench::testing {

// The interpreter install-deps made for a PyPI worker's family (.venvs/torch, tf, openvino).
inline std::filesystem::path VenvPython(const std::string& backend) {
  const std::string venv =
      backend == "pytorch" ? "torch" : (backend == "openvino" ? "openvino" : "tf");
  return std::filesystem::path(FWBENCH_SOURCE_DIR) / ".venvs" / venv / "bin" / "python";
}

// Asked once per test process (9 s here, the workers' probes): the machine does not change
// between a test's questions.
inline nlohmann::json Doctor() {
  static const nlohmann::json cached = [] {
    const Output doctor = RunFwbench("doctor --json");
    const auto env =
        nlohmann::json::parse(doctor.text.substr(doctor.text.find('{')), nullptr, false);
    EXPECT_TRUE(env.is_object() && env.contains("workers")) << doctor.text;
    return env.is_object() && env.contains("workers") ? env : nlohmann::json{{"workers", {}}};
  }();
  return cached;
}

// The doctor's entry for `backend`; fails the test where install-deps made its environment but
// it (or `mode`) does not run; otherwise sets `skip` to the reason it cannot run here.
inline nlohmann::json WorkerEntry(const nlohmann::json& env, const std::string& backend,
                                  const std::string& mode, std::string& skip) {
  for (const auto& w : env["workers"]) {
    if (w["name"] != backend) continue;
    const bool available = w["available"].get<bool>();
    const std::string why = !available ? w.value("reason", std::string())
                            : w["mode_unavailable"].contains(mode)
                                ? w["mode_unavailable"][mode].get<std::string>()
                                : "";
    EXPECT_TRUE(why.empty() || !std::filesystem::exists(VenvPython(backend)))
        << VenvPython(backend) << " exists but " << backend << "/" << mode
        << " does not run: " << why;
    skip = why;
    return w;
  }
  ADD_FAILURE() << backend << " is not in the catalogue";
  return nullptr;
}

}  // namespace fwbench::testing
