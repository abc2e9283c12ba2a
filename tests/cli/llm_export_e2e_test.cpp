// `fwbench llm-export`: the fine-tuned tiny model exported along every path, each run in every
// runtime that loads it, against LibTorch eager on the merged checkpoint (docs/llm.md, "Export
// portability"). One test per export path.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "run_fwbench.h"

namespace fwbench {
namespace {

using fwbench::testing::FreshDir;
using fwbench::testing::Output;
using fwbench::testing::RunDir;
using fwbench::testing::RunFwbench;

// A LibTorch training trial of the tiny preset that saved its adapters; one per test process
// (ctest runs the tests of this file side by side).
std::filesystem::path TrainedRun() {
  static const std::filesystem::path run = [] {
    const auto out = FreshDir("llm_export_" + std::to_string(::getpid()));
    const Output r = RunFwbench(
        "run --workload llm_lora --quick --trials 1 --backends libtorch --tasks train "
        "--train-batch-size 4 --no-report --out " +
        out.string());
    EXPECT_EQ(r.code, 0) << r.text;
    return RunDir(out);
  }();
  return run;
}

nlohmann::json Matrix(const std::filesystem::path& run) {
  return nlohmann::json::parse(std::ifstream(run / "export" / "matrix.json"));
}

struct ExpectedPath {
  const char* id;
  std::vector<std::string> runtimes;
  const char* converter_failure;  // a known failure of the converter's, or nullptr: every row works
};

// ctest's test list names the path, not the struct's bytes.
void PrintTo(const ExpectedPath& path, std::ostream* os) { *os << path.id; }

class LlmExportPath : public ::testing::TestWithParam<ExpectedPath> {};

TEST_P(LlmExportPath, LoadsAndGivesLibtorchsLogitsAndTokensInEveryRuntime) {
  const ExpectedPath& want = GetParam();
  const std::filesystem::path run = TrainedRun();
  ASSERT_FALSE(run.empty());
  const Output r = RunFwbench("llm-export " + run.string() + " --repeats 1 --exports " + want.id);
  ASSERT_EQ(r.code, 0) << r.text;
  const nlohmann::json matrix = Matrix(run);
  EXPECT_EQ(matrix["from"], "libtorch/eager/train/b4");
  EXPECT_EQ(matrix["reference"]["tokens"].size(), 32u) << matrix["reference"].dump();
  std::vector<std::string> runtimes;
  for (const auto& row : matrix["rows"]) {
    if (row["export"] != want.id) continue;
    const std::string runtime = row["runtime"];
    runtimes.push_back(runtime);
    const std::string reason = row.value("reason", "");
    if (reason.find("worker cannot run here") != std::string::npos) {
      GTEST_SKIP() << want.id << " → " << runtime << ": " << reason;
    }
    EXPECT_NE(row.value("converter", ""), "") << row.dump();
    if (want.converter_failure != nullptr) {
      // The converter's own words, kept as the finding (tf2onnx 1.17.0, pinned).
      EXPECT_FALSE(row["works"].get<bool>()) << row.dump();
      EXPECT_EQ(row["stage"], "export") << row.dump();
      EXPECT_NE(reason.find(want.converter_failure), std::string::npos) << row.dump();
      continue;
    }
    EXPECT_TRUE(row["works"].get<bool>()) << row.dump();
    EXPECT_EQ(row["parity"], "pass") << row.dump();
    EXPECT_LT(row["logits_max_abs"].get<double>(), 1e-4) << row.dump();
    EXPECT_TRUE(row["tokens_equal"].get<bool>()) << row.dump();
    EXPECT_GT(row["prefill_tokens_per_s"].get<double>(), 0.0) << row.dump();
    EXPECT_GT(row["decode_tokens_per_s"].get<double>(), 0.0) << row.dump();
  }
  EXPECT_EQ(runtimes, want.runtimes);
}

INSTANTIATE_TEST_SUITE_P(
    EveryPath, LlmExportPath,
    ::testing::Values(ExpectedPath{"onnx-dynamo", {"onnxruntime", "onnxruntime-node"}, nullptr},
                      ExpectedPath{"aoti", {"aoti"}, nullptr},
                      ExpectedPath{"torchscript", {"torchscript"}, nullptr},
                      ExpectedPath{"savedmodel", {"tensorflow"}, nullptr},
                      ExpectedPath{"tf2onnx", {"onnxruntime", "onnxruntime-node"}, nullptr},
                      ExpectedPath{"savedmodel-port", {"tensorflow"}, nullptr},
                      ExpectedPath{"tf2onnx-port", {"onnxruntime"}, "XlaDynamicUpdateSlice"}),
    [](const ::testing::TestParamInfo<ExpectedPath>& info) {
      std::string name = info.param.id;
      std::erase(name, '-');
      return name;
    });

TEST(LlmExport, TheRunsReportGainsTheMatrixAndAnExportVerdict) {
  const std::filesystem::path run = TrainedRun();
  ASSERT_FALSE(run.empty());
  const Output r = RunFwbench("llm-export " + run.string() + " --repeats 1 --exports torchscript");
  ASSERT_EQ(r.code, 0) << r.text;
  std::ifstream in(run / "report.md");
  const std::string report{std::istreambuf_iterator<char>(in), {}};
  EXPECT_NE(report.find("## LLM export portability"), std::string::npos) << report;
  EXPECT_NE(report.find("| pytorch | torchscript |"), std::string::npos) << report;
  const auto results = nlohmann::json::parse(std::ifstream(run / "results.json"));
  bool verdict = false;
  for (const auto& line : results["pick"]) {
    verdict |= line.get<std::string>().find("export portability") != std::string::npos;
  }
  EXPECT_TRUE(verdict) << results["pick"].dump();
}

TEST(LlmExport, AFolderThatIsNoFineTunedRunOrAnUnknownExportIsAUsageError) {
  const auto empty = FreshDir("llm_export_empty");
  Output r = RunFwbench("llm-export " + empty.string());
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("not a run folder (no manifest.json)"), std::string::npos) << r.text;

  const std::filesystem::path run = TrainedRun();
  ASSERT_FALSE(run.empty());
  r = RunFwbench("llm-export " + run.string() + " --exports onnx,torchscript");
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("--exports: unknown export 'onnx' (have: onnx-dynamo, aoti"),
            std::string::npos)
      << r.text;
  r = RunFwbench("llm-export " + run.string() + " --from pytorch/eager/train/b4");
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("training configurations there: libtorch/eager/train/b4"),
            std::string::npos)
      << r.text;

  // Generation only: no adapter was trained, so there is no fine-tuned model to export.
  const auto infer = FreshDir("llm_export_infer_" + std::to_string(::getpid()));
  r = RunFwbench(
      "run --workload llm_lora --quick --trials 1 --backends libtorch --tasks infer "
      "--batch-sizes 1 --no-report --out " +
      infer.string());
  ASSERT_EQ(r.code, 0) << r.text;
  r = RunFwbench("llm-export " + RunDir(infer).string());
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("no training trial saved an adapter"), std::string::npos) << r.text;
}

// The LibTorch rows' runner: a request it cannot use is a usage error; a file LibTorch refuses
// is an answer (a finding), not a crash.
TEST(LlmExport, TheLibtorchRunnerAnswersForAFileItCannotLoad) {
  const auto dir = FreshDir("llm_export_run_" + std::to_string(::getpid()));
  const std::filesystem::path run = TrainedRun();
  ASSERT_FALSE(run.empty());
  const auto manifest = nlohmann::json::parse(std::ifstream(run / "manifest.json"));
  const std::filesystem::path checkpoint = manifest["llm"]["checkpoint"].get<std::string>();
  std::ofstream(dir / "not-a-model.pt") << "not a TorchScript archive";
  const Output prompt = RunFwbench("llm-export " + run.string() + " --exports torchscript");
  ASSERT_EQ(prompt.code, 0) << prompt.text;
  const nlohmann::json request = {{"runtime", "torchscript"},
                                  {"file", (dir / "not-a-model.pt").string()},
                                  {"prompt", (run / "export" / "prompt.safetensors").string()},
                                  {"new_tokens", 4},
                                  {"cache_len", 40},
                                  {"config", (checkpoint / "config.json").string()},
                                  {"threads", 1},
                                  {"repeats", 1},
                                  {"out", (dir / "out").string()}};
  std::ofstream(dir / "request.json") << request.dump();
  Output r = RunFwbench("llm-export-run " + (dir / "request.json").string());
  ASSERT_EQ(r.code, 0) << r.text;
  const auto answer = nlohmann::json::parse(r.text.substr(r.text.find('{')));
  EXPECT_FALSE(answer["ok"].get<bool>()) << answer.dump();
  EXPECT_EQ(answer["stage"], "load") << answer.dump();
  EXPECT_FALSE(answer.value("reason", "").empty()) << answer.dump();

  nlohmann::json bad = request;
  bad.erase("cache_len");
  std::ofstream(dir / "bad.json") << bad.dump();
  r = RunFwbench("llm-export-run " + (dir / "bad.json").string());
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("llm-export-run request"), std::string::npos) << r.text;
  bad = request;
  bad["runtime"] = "onnxruntime";
  std::ofstream(dir / "bad.json") << bad.dump();
  r = RunFwbench("llm-export-run " + (dir / "bad.json").string());
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("unknown runtime 'onnxruntime'"), std::string::npos) << r.text;
}

}  // namespace
}  // namespace fwbench
