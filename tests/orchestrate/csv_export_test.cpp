// CSV exports: one row per trial and per configuration, RFC 4180 quoting.
#include "report/csv_export.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "analysis/run_results.h"

namespace fwbench {
namespace {

std::vector<std::string> Lines(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

TEST(CsvExport, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
}

TEST(CsvExport, OneRowPerTrialAndPerConfigurationWithCis) {
  const auto dir = std::filesystem::temp_directory_path() / "fwbench_csv_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const nlohmann::json results = {
      {"run_id", "r1"},
      {"configurations",
       {{{"config", "x/eager/infer/b1"},
         {"backend", "x"},
         {"mode", "eager"},
         {"task", "infer"},
         {"batch_size", 1},
         {"trials_ok", 1},
         {"trials_failed", 1},
         {"parity", {{"status", "pass"}}},
         {"ranked", true},
         {"metrics",
          {{"samples_per_s", {{"median", 12.5}, {"ci95_lo", 11.0}, {"ci95_hi", 14.0}}}}}}}},
      {"trials",
       {{{"trial", "001"},
         {"config", "x/eager/infer/b1"},
         {"status", "ok"},
         {"steps", 30},
         {"latency_ms", {{"p50", 2.5}}}},
        {{"trial", "002"},
         {"config", "x/eager/infer/b1"},
         {"status", "failed"},
         {"reason", "exited with code 1, after 3 steps"}}}}};
  WriteCsv(dir, RunResultsFromJson(results));
  const auto trials = Lines(dir / "trials.csv");
  ASSERT_EQ(trials.size(), 3u);
  EXPECT_EQ(trials[0].rfind("run_id,trial,config,backend,mode,task,batch_size", 0), 0u);
  EXPECT_NE(trials[1].find("r1,001,x/eager/infer/b1,x,eager,infer,1"), std::string::npos);
  EXPECT_NE(trials[1].find(",2.5,"), std::string::npos) << trials[1];
  EXPECT_NE(trials[2].find(",\"exited with code 1, after 3 steps\","), std::string::npos);
  const auto configs = Lines(dir / "configurations.csv");
  ASSERT_EQ(configs.size(), 2u);
  EXPECT_NE(configs[0].find("samples_per_s,samples_per_s_ci95_lo,samples_per_s_ci95_hi"),
            std::string::npos);
  EXPECT_NE(configs[1].find(",pass,true,"), std::string::npos) << configs[1];
  EXPECT_NE(configs[1].find(",12.5,11,14,"), std::string::npos) << configs[1];
}

}  // namespace
}  // namespace fwbench
