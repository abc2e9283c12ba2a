// The developer-experience tables and verdict from dx.json.
#include "report/dx_section.h"

#include <gtest/gtest.h>

namespace fwbench::report {
namespace {

nlohmann::json Case(const std::string& backend, const std::string& fault,
                    const std::string& outcome, bool culprit = false, bool port_line = false,
                    int lines = 10, bool trains = true) {
  nlohmann::json c = {{"trains", trains},
                      {"backend", backend},
                      {"mode", "m"},
                      {"fault", fault},
                      {"outcome", outcome},
                      {"steps", 0},
                      {"lines", lines},
                      {"frames", 3},
                      {"characters", 99},
                      {"headline", "E: " + fault},
                      {"names_culprit", culprit},
                      {"names_port_line", port_line}};
  if (outcome == "n/a") c["detail"] = "not here";
  if (outcome == "loop") c["detail"] = "loss is nan after step 7";
  return c;
}

nlohmann::json Dx(const std::vector<nlohmann::json>& cases) {
  return {{"schema_version", 1}, {"cases", cases}};
}

const std::vector<std::string> kFaults = {"a", "b", "c", "d", "e"};

std::vector<nlohmann::json> Framework(const std::string& backend, int errors, int culprit,
                                      int port_line) {
  std::vector<nlohmann::json> cases;
  for (int i = 0; i < static_cast<int>(kFaults.size()); ++i) {
    cases.push_back(Case(backend, kFaults[i], i < errors ? "error" : "loop", i < culprit,
                         i < port_line, 10 * (i + 1)));
  }
  return cases;
}

TEST(DxSection, PicksTheFrameworkThatReportsAndNamesMore) {
  auto cases = Framework("x", 4, 3, 1);
  for (auto& c : Framework("y", 4, 2, 4)) cases.push_back(c);
  // A runtime meets two faults: it is listed, not ranked.
  cases.push_back(Case("rt", "d", "error", true, true, 10, false));
  cases.push_back(Case("rt", "e", "error", true, true, 10, false));
  cases.push_back(Case("rt", "a", "n/a", false, false, 10, false));
  const std::string v = DxVerdict(Dx(cases));
  EXPECT_EQ(
      v.rfind(
          "pick x/m if you care about debuggability: it reported 4 of 5 faults with "
          "an error, its message naming the culprit in 3 and the port's source line in 1; next, "
          "y/m",
          0),
      0u)
      << v;
  const Table summary = DxSummaryTable(Dx(cases));
  ASSERT_EQ(summary.rows.size(), 3u);
  for (const auto& row : summary.rows) EXPECT_EQ(row.size(), summary.header.size());
  EXPECT_EQ(summary.rows[0][0], "x/m");
  EXPECT_EQ(summary.rows[0][1], "5");
  EXPECT_EQ(summary.rows[0][2], "4 of 5");
  EXPECT_EQ(summary.rows[0][4], "0");
  EXPECT_EQ(summary.rows[0][6], "25");  // median of 10, 20, 30, 40
  EXPECT_EQ(summary.rows[0][7], "e");   // the fault only fwbench's loop reported
  EXPECT_EQ(summary.rows[0][8], "0");
  EXPECT_EQ(summary.rows[2][1], "2");  // rt: the n/a case does not count
}

TEST(DxSection, ACaseThatCouldNotRunIsNotCountedAndBlocksTheVerdict) {
  auto cases = Framework("x", 4, 3, 1);
  for (auto& c : Framework("y", 4, 2, 4)) cases.push_back(c);
  cases.push_back(Case("y", "f", "failed"));
  EXPECT_EQ(DxVerdict(Dx(cases)).rfind("no verdict: 1 case(s) could not run", 0), 0u);
  const Table summary = DxSummaryTable(Dx(cases));
  EXPECT_EQ(summary.rows[1][1], "5");  // y's failed case is not one of its faults
  EXPECT_EQ(summary.rows[1][9], "1");
}

TEST(DxSection, EqualRecordsAreATieAndOneFrameworkIsNoVerdict) {
  auto cases = Framework("x", 3, 3, 3);
  for (auto& c : Framework("y", 3, 3, 3)) cases.push_back(c);
  EXPECT_EQ(DxVerdict(Dx(cases)).rfind("no single pick for debuggability: x/m, y/m tie", 0), 0u)
      << DxVerdict(Dx(cases));
  EXPECT_EQ(DxVerdict(Dx(Framework("x", 3, 3, 3))).rfind("no verdict", 0), 0u);
}

TEST(DxSection, CaseRowsSayWhatHappened) {
  nlohmann::json traced = Case("x", "e", "error");
  traced["trace_names_culprit"] = true;
  const nlohmann::json dx = Dx({Case("x", "a", "error", true, false), Case("x", "b", "loop"),
                                Case("x", "c", "n/a"), Case("x", "d", "silent", true), traced});
  const Table t = DxCaseTable(dx);
  ASSERT_EQ(t.rows.size(), 5u);
  for (const auto& row : t.rows) EXPECT_EQ(row.size(), t.header.size());
  EXPECT_EQ(t.rows[4][8], "its line");
  EXPECT_EQ(DxSummaryTable(dx).rows[0][4], "1");
  EXPECT_EQ(t.rows[0][8], "yes");
  EXPECT_EQ(t.rows[0][9], "no");
  EXPECT_EQ(t.rows[0][10], "E: a");
  EXPECT_EQ(t.rows[1][10], "fwbench's loop: loss is nan after step 7");
  EXPECT_EQ(t.rows[2][2], "n/a");
  EXPECT_EQ(t.rows[2][5], "-");
  EXPECT_EQ(t.rows[2][10], "not here");
  // Silent, but it printed a warning that names the culprit.
  EXPECT_EQ(t.rows[3][8], "yes");
  EXPECT_EQ(DxSummaryTable(dx).rows[0][8], "1");
  const Section s = DxSection(dx);
  EXPECT_EQ(s.id, "dx");
  EXPECT_EQ(s.blocks.size(), 4u);
}

}  // namespace
}  // namespace fwbench::report
