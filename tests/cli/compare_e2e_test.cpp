// `fwbench compare` end to end: a worker made 20% slower is flagged as a significant
// regression; a rerun of the same worker is not.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "run_fwbench.h"

namespace fwbench {
namespace {

using fwbench::testing::Output;
using fwbench::testing::RunFwbench;

// Runs the fake worker (mode ok or slow) as backend "w" and returns the run folder.
std::filesystem::path RunFake(const std::string& name, const std::string& mode) {
  const auto out = std::filesystem::temp_directory_path() / ("fwbench_compare_" + name);
  std::filesystem::remove_all(out);
  std::filesystem::create_directories(out);
  const auto plan = out / "plan.toml";
  std::ofstream(plan) << "backends = [\"w\"]\ntasks = [\"infer\"]\ntrials = 3\n"
                      << "[infer]\nbatch_sizes = [1]\nmin_steps = 60\nmin_seconds = 0.0\n"
                      << "parity_batch = 0\n"
                      << "[workers.w]\ncommand = [\"" << FAKE_WORKER << "\", \"" << mode
                      << "\", \"{spec}\"]\n";
  const Output r = RunFwbench("run " + plan.string() + " --out " + out.string());
  EXPECT_EQ(r.code, 0) << r.text;
  for (const auto& entry : std::filesystem::directory_iterator(out)) {
    if (entry.is_directory() && entry.path().filename() != "cache") return entry.path();
  }
  return {};
}

const nlohmann::json* StepTime(const nlohmann::json& comparison) {
  for (const auto& c : comparison["changes"]) {
    if (c["metric"] == "step time") return &c;
  }
  return nullptr;
}

TEST(CompareE2E, FlagsAnInjectedSlowdownAndNotARerun) {
  const auto a = RunFake("a", "ok");
  const auto rerun = RunFake("rerun", "ok");
  const auto slow = RunFake("slow", "slow");

  Output r = RunFwbench("compare --json " + a.string() + " " + slow.string());
  ASSERT_EQ(r.code, 0) << r.text;
  auto j = nlohmann::json::parse(r.text.substr(r.text.find('{')));
  const nlohmann::json* m = StepTime(j);
  ASSERT_NE(m, nullptr) << r.text;
  EXPECT_TRUE((*m)["significant"].get<bool>()) << m->dump();
  EXPECT_EQ((*m)["verdict"], "slower");
  EXPECT_GT((*m)["ratio"].get<double>(), 1.1) << m->dump();
  // For CI: a regression fails the command when asked to.
  r = RunFwbench("compare --fail-on-regression " + a.string() + " " + slow.string());
  EXPECT_EQ(r.code, 1) << r.text;
  EXPECT_NE(r.text.find("SIGNIFICANT: slower"), std::string::npos) << r.text;

  // Every run is in the history of its results folder; compare takes its id.
  const std::string results_dir = a.parent_path().string();
  r = RunFwbench("history --out " + results_dir);
  EXPECT_NE(r.text.find(a.filename().string()), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("3 ok / 0 failed"), std::string::npos) << r.text;
  r = RunFwbench("compare --out " + results_dir + " " + a.filename().string() + " " +
                 slow.string());
  EXPECT_EQ(r.code, 0) << r.text;
  EXPECT_NE(r.text.find("SIGNIFICANT: slower"), std::string::npos) << r.text;

  r = RunFwbench("compare --json " + a.string() + " " + rerun.string());
  ASSERT_EQ(r.code, 0) << r.text;
  j = nlohmann::json::parse(r.text.substr(r.text.find('{')));
  m = StepTime(j);
  ASSERT_NE(m, nullptr) << r.text;
  EXPECT_FALSE((*m)["significant"].get<bool>()) << m->dump();
}

TEST(CompareE2E, AMissingRunFolderIsAUsageError) {
  const Output r = RunFwbench("compare /nonexistent/run-a /nonexistent/run-b");
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("/nonexistent/run-a: neither a run folder nor a run id"), std::string::npos)
      << r.text;
}

}  // namespace
}  // namespace fwbench
