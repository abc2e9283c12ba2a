// What the report says about a run, checked on constructed results.
#include "report/report_content.h"

#include <gtest/gtest.h>

#include "analysis/run_results.h"
#include "analysis/verdict.h"
#include "report/table.h"
#include "sample_results.h"

namespace fwbench::report {
namespace {

const Section& FindSection(const Document& doc, const std::string& id) {
  for (const Section& s : doc.sections) {
    if (s.id == id) return s;
  }
  throw std::runtime_error("no section " + id);
}

const Table& FindTable(const Document& doc, const std::string& id) {
  for (const Section& s : doc.sections) {
    for (const Block& b : s.blocks) {
      if (const auto* t = std::get_if<Table>(&b); t != nullptr && t->id == id) return *t;
    }
  }
  throw std::runtime_error("no table " + id);
}

nlohmann::json WithVerdicts(nlohmann::json r) {
  r["verdicts"] = nlohmann::json::array();
  const auto verdicts = BuildVerdicts(RunResultsFromJson(r), 0.05);
  for (const Verdict& v : verdicts) r["verdicts"].push_back(ToJson(v));
  r["pick"] = PickLines(verdicts);
  return r;
}

TEST(ReportContent, SnapshotHasEveryConfigurationWithCisAndParity) {
  const Document doc =
      BuildReportDocument(RunResultsFromJson(testing::SampleResults()), {}, "", "");
  const Table& train = FindTable(doc, "snapshot-train");
  const Table& infer = FindTable(doc, "snapshot-infer");
  ASSERT_EQ(train.rows.size(), 2u);
  ASSERT_EQ(infer.rows.size(), 4u);
  // libtorch/compiled/infer/b1: TTFB, p50, p99, samples/s, memory with CIs; compile gain.
  const auto& row = infer.rows[1];
  EXPECT_EQ(row[0], "libtorch/compiled/infer/b1");
  EXPECT_EQ(row[2], "0.5 [0.45–0.6]");
  EXPECT_EQ(row[5], "400 [380–420]");
  EXPECT_EQ(row[7], "4× [3.5–4.5]") << "speed-up";
  EXPECT_EQ(row[8], "12") << "break-even steps, rounded up";
  EXPECT_EQ(row[9], "pass");
  EXPECT_EQ(infer.rows[2][9], "FAIL (max |Δ| 0.31)");
}

TEST(ReportContent, ATokenWorkloadGetsATokensTableAndAnImageRunNone) {
  nlohmann::json r = testing::SampleResults();
  EXPECT_THROW(FindTable(BuildReportDocument(RunResultsFromJson(r), {}, "", ""), "snapshot-tokens"),
               std::runtime_error);
  const auto metric = [](double median, double lo, double hi) {
    return nlohmann::json{{"median", median}, {"ci95_lo", lo}, {"ci95_hi", hi}};
  };
  auto& train = r["configurations"][0];
  train["metrics"]["tokens_per_s"] = metric(2338, 2046, 2491);
  train["metrics"]["mfu"] = metric(0.1572, 0.1376, 0.1675);
  auto& infer = r["configurations"][2];
  infer["metrics"]["tokens_per_s"] = metric(352.7, 311.4, 361.3);
  infer["metrics"]["ttft_ms"] = metric(64.52, 63.74, 68.28);
  infer["metrics"]["decode_tokens_per_s"] = metric(1206, 1099, 1312);
  const Document doc = BuildReportDocument(RunResultsFromJson(r), {}, "", "");
  const Table& tokens = FindTable(doc, "snapshot-tokens");
  ASSERT_EQ(tokens.rows.size(), 2u);
  EXPECT_EQ(tokens.header[0], "configuration");
  EXPECT_EQ(tokens.rows[0][1], "2338 [2046–2491]");
  EXPECT_EQ(tokens.rows[0][2], "15.72% [13.76–16.75]") << "MFU as a percentage";
  EXPECT_EQ(tokens.rows[0][3], "-");
  EXPECT_EQ(tokens.rows[1][3], "64.52 [63.74–68.28]") << "time to first token";
  EXPECT_EQ(tokens.rows[1][5], "1206 [1099–1312]") << "decode tokens/s";
}

TEST(ReportContent, AParityFailureAndAnIncompleteRunAreSaidFirst) {
  nlohmann::json r = testing::SampleResults();
  r["complete"] = false;
  r["warnings"].push_back("the run is incomplete: 7 of 18 trials recorded");
  const Document doc = BuildReportDocument(RunResultsFromJson(r), {}, "", "");
  EXPECT_NE(doc.title.find("(incomplete)"), std::string::npos);
  const Section& summary = FindSection(doc, "summary");
  const auto* first = std::get_if<Notice>(&summary.blocks.at(0));
  ASSERT_NE(first, nullptr);
  EXPECT_NE(first->text.find("INCOMPLETE RUN — the run is incomplete: 7 of 18 trials recorded"),
            std::string::npos)
      << first->text;
  bool parity_notice = false;
  for (const Block& b : summary.blocks) {
    if (const auto* n = std::get_if<Notice>(&b)) {
      parity_notice =
          parity_notice || n->text.find("1 configuration(s) FAILED the parity gate") == 0;
    }
  }
  EXPECT_TRUE(parity_notice);
}

TEST(ReportContent, VerdictMatrixShowsWinnersTiesEvidenceAndExclusions) {
  const nlohmann::json r = WithVerdicts(testing::SampleResults());
  const Document doc = BuildReportDocument(RunResultsFromJson(r), {}, "", "");
  const Table& m = FindTable(doc, "verdict-matrix");
  std::map<std::string, std::vector<std::string>> rows;
  for (const auto& row : m.rows) rows[row[0].substr(0, row[0].find(" ("))] = row;
  // Inference latency at batch 1: the compiled mode wins; the faster "other" failed parity.
  ASSERT_TRUE(rows.contains("inference latency"));
  EXPECT_EQ(rows["inference latency"][1], "libtorch/compiled/infer/b1");
  EXPECT_EQ(rows["inference latency"][5], "other/fast/infer/b1: not ranked (parity fail)");
  ASSERT_TRUE(rows.contains("compile gain"));
  EXPECT_EQ(rows["compile gain"][1], "libtorch/compiled/infer/b1");
  EXPECT_EQ(rows["compile gain"][2], "4× [3.5–4.5]");
  ASSERT_TRUE(rows.contains("deployment"));
  EXPECT_EQ(rows["deployment"][1], "not measured");
  // The "pick" lines are the results' own, generated from the same verdicts.
  const auto* picks = std::get_if<List>(&FindSection(doc, "summary").blocks.at(1));
  ASSERT_NE(picks, nullptr);
  EXPECT_EQ(picks->items, r["pick"].get<std::vector<std::string>>());
}

// A user's model: the conversions with their converters' words, and a row for every runtime that
// could load neither the model nor a conversion of it.
TEST(ReportContent, PortabilityListsConversionsAndTheRuntimesThatCannotLoadTheModel) {
  nlohmann::json r = testing::SampleResults();
  r["user_model"] = {
      {"format", "onnx"},
      {"reference", "onnxruntime"},
      {"conversions",
       {{{"from", "onnx"},
         {"to", "savedmodel"},
         {"converter", "onnx2tf 2.6.9"},
         {"ok", false},
         {"reason", "ConversionFailed: onnx2tf 2.6.9: Foo is not supported"}}}},
      {"runtimes",
       {{"libtorch", {{"loads", "onnx"}, {"via", "its own loader"}}},
        {"tensorflow", {{"refused", "the conversion of m to savedmodel failed: Foo"}}}}}};
  const Document doc = BuildReportDocument(RunResultsFromJson(r), {}, "", "");
  const Table& conversions = FindTable(doc, "conversions");
  ASSERT_EQ(conversions.rows.size(), 1u);
  EXPECT_EQ(conversions.rows[0][3],
            "failed: ConversionFailed: onnx2tf 2.6.9: Foo is not supported");
  const Table& runtimes = FindTable(doc, "portability");
  ASSERT_FALSE(runtimes.rows.empty());
  EXPECT_EQ(runtimes.rows.back()[0], "tensorflow");
  EXPECT_EQ(runtimes.rows.back()[7], "the conversion of m to savedmodel failed: Foo");
  EXPECT_EQ(runtimes.rows.front()[1], "onnx");  // libtorch's configurations: what they loaded
}

TEST(ReportContent, ChartsThatDidNotRenderAreWarnings) {
  const Document doc =
      BuildReportDocument(RunResultsFromJson(testing::SampleResults()),
                          {Chart{"ttfb-phases", "TTFB", "", "node not found", ""}}, "", "");
  const Section& w = FindSection(doc, "warnings");
  bool said = false;
  for (const Block& b : w.blocks) {
    if (const auto* l = std::get_if<List>(&b)) {
      for (const auto& item : l->items) said = said || item == "chart ttfb-phases: node not found";
    }
  }
  EXPECT_TRUE(said);
}

TEST(ReportContent, ProvenanceCarriesThePlanAndTheEnvironment) {
  const Document doc = BuildReportDocument(RunResultsFromJson(testing::SampleResults()), {},
                                           "name = \"sample\"\n", "Vega 6.4.0");
  const Section& p = FindSection(doc, "provenance");
  const Table& env = FindTable(doc, "environment");
  bool cpu = false;
  bool charts = false;
  for (const auto& row : env.rows) {
    cpu = cpu || (row[0] == "CPU" && row[1].starts_with("Test CPU"));
    charts = charts || (row[0] == "charts" && row[1] == "Vega 6.4.0");
  }
  EXPECT_TRUE(cpu);
  EXPECT_TRUE(charts);
  const auto* plan = std::get_if<Preformatted>(&p.blocks.back());
  ASSERT_NE(plan, nullptr);
  EXPECT_EQ(plan->text, "name = \"sample\"\n");
}

TEST(ReportContent, AThreadSweepIsReportedWithEachCountNotTheLargest) {
  nlohmann::json r = testing::SampleResults();
  ASSERT_GE(r["configurations"].size(), 2u);
  for (auto& c : r["configurations"]) c["threads"] = 2;
  r["configurations"][0]["threads"] = 1;
  const Document doc = BuildReportDocument(RunResultsFromJson(r), {}, "", "");
  bool row = false;
  for (const auto& cells : FindTable(doc, "environment").rows) {
    row = row || (cells[0] == "threads per trial" && cells[1] == "1, 2");
  }
  EXPECT_TRUE(row);
  bool summary = false;
  for (const Section& sec : doc.sections) {
    for (const Block& b : sec.blocks) {
      if (const auto* p = std::get_if<Paragraph>(&b)) {
        summary = summary || p->text.find("threads per trial: 1, 2)") != std::string::npos;
      }
    }
  }
  EXPECT_TRUE(summary);
  EXPECT_NE(FormatTable(RunResultsFromJson(r)).find("(threads 1, 2, "), std::string::npos)
      << FormatTable(RunResultsFromJson(r));
  // A run from before configurations carried their threads: the run-wide count.
  for (auto& c : r["configurations"]) c.erase("threads");
  EXPECT_NE(FormatTable(RunResultsFromJson(r)).find("(threads 2, "), std::string::npos)
      << FormatTable(RunResultsFromJson(r));
}

}  // namespace
}  // namespace fwbench::report
