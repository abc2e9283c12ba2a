// The export matrix's verdict ranks frameworks by the runtimes their model reaches as the port
// computes it, then with the exported step changed for a converter.
#include "report/llm_export_section.h"

#include <gtest/gtest.h>

namespace fwbench::report {
namespace {

nlohmann::json Row(const std::string& framework, const std::string& runtime, bool works,
                   int changes = 0) {
  nlohmann::json row = {{"framework", framework}, {"export", "x"},
                        {"runtime", runtime},     {"works", works},
                        {"loads", works},         {"changes", nlohmann::json::array()}};
  for (int i = 0; i < changes; ++i) row["changes"].push_back("change " + std::to_string(i));
  if (works) {
    row["parity"] = "pass";
    row["logits_max_abs"] = 6e-7;
    row["tokens_equal"] = true;
    row["prefill_tokens_per_s"] = 14000.0;
    row["decode_tokens_per_s"] = 2700.0;
  } else {
    row["stage"] = "export";
    row["reason"] = "Tensorflow op [XlaDynamicUpdateSlice] is not supported";
  }
  return row;
}

TEST(LlmExportSection, AtEqualReachTheModelWhoseStepNeededFewerChangesWins) {
  const nlohmann::json matrix = {
      {"new_tokens", 32},
      {"rows",
       {Row("pytorch", "onnxruntime", true), Row("pytorch", "aoti", true),
        Row("pytorch", "torchscript", true), Row("keras3", "tensorflow", true, 3),
        Row("keras3", "onnxruntime", true, 3), Row("keras3", "tensorflow", true),
        Row("keras3", "onnxruntime", false)}}};
  EXPECT_EQ(LlmExportVerdict(matrix),
            "pick pytorch if you care about export portability: pytorch reaches 2 runtime(s) "
            "(LibTorch, onnxruntime) with 0 change(s) to its exported step, 3 of 3 paths work; "
            "keras3 reaches 2 runtime(s) (onnxruntime, tensorflow) with 3 change(s) to its "
            "exported step, 3 of 4 paths work");
  const Table t = LlmExportTable(matrix);
  ASSERT_EQ(t.rows.size(), 7u);
  EXPECT_EQ(t.rows[3][3], "3 changes");
  EXPECT_EQ(t.rows[0][3], "no");
  EXPECT_EQ(t.rows[6][6], "export failed: Tensorflow op [XlaDynamicUpdateSlice] is not supported");
  EXPECT_EQ(t.rows[0][7], "equal");
}

TEST(LlmExportSection, AsManyRuntimesEitherWayIsATieAndAMissingWorkerCountsForNoOne) {
  nlohmann::json missing = Row("keras3", "onnxruntime-node", false);
  missing["measured"] = false;
  missing["export"] = "tf2onnx";
  const nlohmann::json matrix = {
      {"rows", {Row("pytorch", "onnxruntime", true), Row("keras3", "onnxruntime", true), missing}}};
  EXPECT_EQ(LlmExportVerdict(matrix),
            "export portability: tie — keras3 reaches 1 runtime(s) (onnxruntime) with 0 "
            "change(s) to its exported step, 1 of 1 paths work; pytorch reaches 1 runtime(s) "
            "(onnxruntime) with 0 change(s) to its exported step, 1 of 1 paths work (not measured "
            "here: tf2onnx → onnxruntime-node)");
  EXPECT_EQ(LlmExportVerdict({{"rows", nlohmann::json::array()}}),
            "export portability: no export was measured");
}

}  // namespace
}  // namespace fwbench::report
