// A run whose trials ran on two machine types is reported per machine type, never pooled.
#include "report/machine_types.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "report/results.h"

namespace fwbench {
namespace {

const std::filesystem::path kDefaultRun =
    std::filesystem::path(FWBENCH_TEST_DIR) / "fixtures/runs/20261205-060344-default";

TEST(MachineTypes, OneTypeOrNoneChangesNothing) {
  nlohmann::json manifest = {{"configurations", {{{"id", "a"}}}}};
  std::vector<nlohmann::json> records = {{{"config", "a"}, {"machine_type", "X"}},
                                         {{"config", "a"}}};
  EXPECT_EQ(SplitByMachineType(manifest, records), "");
  EXPECT_EQ(records[0]["config"], "a");
  EXPECT_EQ(manifest["configurations"].size(), 1u);
}

TEST(MachineTypes, TwoTypesSplitEveryConfigurationAndNameTheNodes) {
  nlohmann::json manifest = {{"configurations", {{{"id", "a"}}, {{"id", "b"}}}}};
  std::vector<nlohmann::json> records = {{{"config", "a"}, {"machine_type", "X"}, {"node", "n1"}},
                                         {{"config", "b"}, {"machine_type", "Y"}, {"node", "n7"}},
                                         {{"config", "a"}, {"machine_type", "Y"}, {"node", "n8"}}};
  const std::string note = SplitByMachineType(manifest, records);
  EXPECT_EQ(note,
            "the trials ran on 2 machine types: X (nodes n1); Y (nodes n7, n8); each "
            "configuration is reported per machine type (ID @ TYPE), never pooled across them");
  EXPECT_EQ(records[0]["config"], "a @ X");
  EXPECT_EQ(records[1]["config"], "b @ Y");
  ASSERT_EQ(manifest["configurations"].size(), 4u);
  EXPECT_EQ(manifest["configurations"][0]["id"], "a @ X");
  EXPECT_EQ(manifest["configurations"][1]["id"], "a @ Y");
  EXPECT_EQ(manifest["configurations"][1]["machine_type"], "Y");
}

// The default run's trials as if repetitions 0 and 1 ran on one node type and 2 on another.
TEST(MachineTypes, ARunOnTwoNodeTypesComparesTheMachinesInsteadOfPoolingThem) {
  const auto dir = std::filesystem::temp_directory_path() / "fwbench_machine_types_run";
  std::filesystem::remove_all(dir);
  std::filesystem::copy(kDefaultRun, dir, std::filesystem::copy_options::recursive);
  std::ifstream in(kDefaultRun / "trials.jsonl");
  std::ofstream out(dir / "trials.jsonl");
  for (std::string line; std::getline(in, line);) {
    nlohmann::json r = nlohmann::json::parse(line);
    const bool second = r.value("role", "") != "warmup" && r.value("repetition", 0) == 2;
    r["machine_type"] = second ? "Type B" : "Type A";
    r["node"] = second ? "b1" : "a1";
    out << r.dump() << "\n";
  }
  out.close();
  const RunResults results = BuildResults(dir);
  ASSERT_EQ(results.configurations.size(), 22u) << "11 configurations × 2 machine types";
  EXPECT_TRUE(results.complete) << "33 of 33 planned trials ran, split or not";
  int a = 0, b = 0;
  for (const ConfigurationResult& c : results.configurations) {
    const std::string& id = c.summary.config;
    if (id.ends_with(" @ Type A")) {
      ++a;
      EXPECT_EQ(c.summary.trials_ok, 2) << id;
    } else if (id.ends_with(" @ Type B")) {
      ++b;
      EXPECT_EQ(c.summary.trials_ok, 1) << id;
    } else {
      ADD_FAILURE() << "not split: " << id;
    }
  }
  EXPECT_EQ(a, 11);
  EXPECT_EQ(b, 11);
  bool noted = false;
  for (const std::string& n : results.notes)
    noted |= n.find("2 machine types") != std::string::npos;
  EXPECT_TRUE(noted);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fwbench
