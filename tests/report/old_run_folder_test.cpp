// An old run folder, analysed again by today's code, says what it said when it was written.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "report/results.h"

namespace fwbench {
namespace {

const std::filesystem::path kDefaultRun =
    std::filesystem::path(FWBENCH_TEST_DIR) / "fixtures/runs/20261205-060344-default";

nlohmann::json ReadJson(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// Every place where `a` and `b` differ, as "path: a vs b" (numbers within 1e-12 relative are
// equal: a printed double read back may differ in its last bit).
void Differences(const nlohmann::json& a, const nlohmann::json& b, const std::string& path,
                 std::vector<std::string>& out) {
  if (a.is_number() && b.is_number()) {
    const double x = a.get<double>();
    const double y = b.get<double>();
    if (std::abs(x - y) > 1e-12 * std::max(std::abs(x), std::abs(y))) {
      out.push_back(path + ": " + a.dump() + " vs " + b.dump());
    }
    return;
  }
  if (a.type() != b.type()) {
    out.push_back(path + ": " + a.dump().substr(0, 80) + " vs " + b.dump().substr(0, 80));
    return;
  }
  if (a.is_object()) {
    for (const auto& [key, value] : a.items()) {
      if (!b.contains(key)) {
        out.push_back(path + "/" + key + ": only in the old results");
        continue;
      }
      Differences(value, b[key], path + "/" + key, out);
    }
    for (const auto& [key, value] : b.items()) {
      if (!a.contains(key)) out.push_back(path + "/" + key + ": only in the new results");
    }
  } else if (a.is_array()) {
    if (a.size() != b.size()) {
      out.push_back(path + ": " + std::to_string(a.size()) + " vs " + std::to_string(b.size()) +
                    " elements");
      return;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
      Differences(a[i], b[i], path + "[" + std::to_string(i) + "]", out);
    }
  } else if (a != b) {
    out.push_back(path + ": " + a.dump() + " vs " + b.dump());
  }
}

TEST(OldRunFolder, TheDefaultRunIsAnalysedAgainIntoTheResultsItWroteThen) {
  ASSERT_TRUE(std::filesystem::exists(kDefaultRun / "trials.jsonl")) << kDefaultRun;
  nlohmann::json then = ReadJson(kDefaultRun / "results.json");
  nlohmann::json now = ToJson(BuildResults(kDefaultRun));
  // When it was analysed is the one field that must differ.
  EXPECT_NE(now.value("analysed_utc", ""), then.value("analysed_utc", ""));
  then.erase("analysed_utc");
  now.erase("analysed_utc");
  // Not vacuous: the run's eleven configurations with their verdicts.
  ASSERT_EQ(then["configurations"].size(), 11u);
  ASSERT_FALSE(then["verdicts"].empty());
  std::vector<std::string> differences;
  Differences(then, now, "", differences);
  std::string listed;
  for (std::size_t i = 0; i < differences.size() && i < 20; ++i) listed += differences[i] + "\n";
  EXPECT_TRUE(differences.empty()) << differences.size() << " differences, first ones:\n" << listed;
}

// The typed form carries every field: results.json read back and written again is the same
// document, so views that take RunResults see everything the file holds.
TEST(OldRunFolder, ItsResultsJsonReadsBackIntoTheSameDocument) {
  const nlohmann::json then = ReadJson(kDefaultRun / "results.json");
  ASSERT_FALSE(then["trials"].empty());
  const RunResults typed = RunResultsFromJson(then, (kDefaultRun / "results.json").string());
  ASSERT_EQ(typed.configurations.size(), 11u);
  EXPECT_EQ(typed.trials.size(), then["trials"].size());
  std::vector<std::string> differences;
  Differences(then, ToJson(typed), "", differences);
  std::string listed;
  for (std::size_t i = 0; i < differences.size() && i < 20; ++i) listed += differences[i] + "\n";
  EXPECT_TRUE(differences.empty()) << differences.size() << " differences, first ones:\n" << listed;
}

TEST(OldRunFolder, AResultsDocumentOfTheWrongShapeIsAUsageErrorNamingTheField) {
  nlohmann::json bad = ReadJson(kDefaultRun / "results.json");
  bad["configurations"] = "eleven";
  try {
    RunResultsFromJson(bad, "x/results.json");
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("x/results.json: \"configurations\""), std::string::npos)
        << e.what();
  }
  bad = ReadJson(kDefaultRun / "results.json");
  bad["configurations"][0]["trials_ok"] = "three";
  EXPECT_THROW(RunResultsFromJson(bad, "x/results.json"), UsageError);
}

}  // namespace
}  // namespace fwbench
