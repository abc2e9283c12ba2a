// `fwbench dx` end to end: real faults in real frameworks, each in a fresh process. The test
// asserts that every case's record has its fields, and that a fault a framework is known to
// report is reported (the framework's exception and its first line), never the wording.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "run_fwbench.h"
#include "worker_catalogue.h"

namespace fwbench::testing {
namespace {

// The cases of the one dx folder under `out`, by "backend/mode fault".
std::map<std::string, nlohmann::json> Cases(const std::filesystem::path& out,
                                            std::filesystem::path& dir) {
  dir = RunDir(out);
  const auto dx = nlohmann::json::parse(ReadText(dir / "dx.json"), nullptr, false);
  std::map<std::string, nlohmann::json> cases;
  EXPECT_TRUE(dx.is_object() && dx.contains("cases")) << dir;
  if (!dx.is_object()) return cases;
  for (const auto& c : dx["cases"]) {
    cases[c.value("backend", "") + "/" + c.value("mode", "") + " " + c.value("fault", "")] = c;
  }
  return cases;
}

// Every case that ran: the fields docs/dx.md lists, and its error text on disk.
void ExpectRecord(const nlohmann::json& c, const std::filesystem::path& dir) {
  const std::set<std::string> outcomes = {"error", "loop", "silent", "n/a"};
  EXPECT_TRUE(outcomes.contains(c.value("outcome", ""))) << c.dump();
  if (c["outcome"] == "n/a") {
    EXPECT_FALSE(c.value("detail", "").empty()) << c.dump();
    return;
  }
  for (const char* field :
       {"framework", "version", "language", "steps", "seconds", "lines", "characters", "frames",
        "headline", "names_culprit", "names_port_line", "error_file"}) {
    EXPECT_TRUE(c.contains(field)) << field << " missing: " << c.dump();
  }
  EXPECT_TRUE(std::filesystem::is_regular_file(dir / c.value("error_file", "")) ||
              c.value("lines", 0) == 0)
      << c.dump();
  EXPECT_GE(c.value("seconds", -1.0), 0.0) << c.dump();
}

// An error the framework raised, whose first line is in the error file.
void ExpectReported(const std::map<std::string, nlohmann::json>& cases, const std::string& key,
                    const std::filesystem::path& dir) {
  ASSERT_TRUE(cases.contains(key)) << key;
  const nlohmann::json& c = cases.at(key);
  EXPECT_EQ(c.value("outcome", ""), "error") << key << ": " << c.dump();
  EXPECT_FALSE(c.value("exception", "").empty()) << key;
  EXPECT_GT(c.value("lines", 0), 0) << key;
  const std::string headline = c.value("headline", "");
  EXPECT_FALSE(headline.empty()) << key;
  EXPECT_NE(ReadText(dir / c.value("error_file", "")).find(headline.substr(0, 40)),
            std::string::npos)
      << key;
}

TEST(DxE2E, LibtorchAndPytorchReportTheirFaults) {
  std::string skip;
  WorkerEntry(Doctor(), "pytorch", "eager", skip);
  const bool with_pytorch = skip.empty();
  if (!with_pytorch) std::cout << "pytorch left out: " << skip << "\n";
  const auto out = FreshDir("dx_e2e_torch");
  const Output run =
      RunFwbench("dx --backends libtorch" + std::string(with_pytorch ? ",pytorch/eager" : "") +
                 " --faults shape_mismatch,exploding_loss,exploding_loss_checked,wrong_dtype,"
                 "export_unsupported --out " +
                 out.string());
  ASSERT_EQ(run.code, 0) << run.text;
  EXPECT_NE(run.text.find("| libtorch/eager | shape_mismatch | error (c10::Error) |"),
            std::string::npos)
      << run.text;
  std::filesystem::path dir;
  const auto cases = Cases(out, dir);
  EXPECT_EQ(cases.size(), with_pytorch ? 10u : 5u);
  for (const auto& [key, c] : cases) ExpectRecord(c, dir);
  std::vector<std::string> backends = {"libtorch/eager"};
  if (with_pytorch) backends.push_back("pytorch/eager");
  for (const std::string& b : backends) {
    ExpectReported(cases, b + " shape_mismatch", dir);
    ExpectReported(cases, b + " wrong_dtype", dir);
    ExpectReported(cases, b + " exploding_loss_checked", dir);
    // Neither framework checks a loss by itself: fwbench's loop finds it, some steps in.
    const nlohmann::json& loss = cases.at(b + " exploding_loss");
    EXPECT_EQ(loss["outcome"], "loop") << loss.dump();
    EXPECT_GT(loss["steps"].get<int>(), 1) << loss.dump();
    EXPECT_EQ(cases.at(b + " shape_mismatch")["steps"], 0);
    // The checker stops the run at the step whose loss the unchecked run saw turn NaN.
    EXPECT_EQ(cases.at(b + " exploding_loss_checked")["steps"].get<int>(),
              loss["steps"].get<int>() - 1);
  }
  EXPECT_EQ(cases.at("libtorch/eager export_unsupported")["outcome"], "n/a");
  if (with_pytorch) {
    // A Python traceback points at the port's line that called the layer.
    const nlohmann::json& shape = cases.at("pytorch/eager shape_mismatch");
    EXPECT_TRUE(shape["names_port_line"].get<bool>()) << shape.dump();
    EXPECT_TRUE(shape["trace_names_culprit"].get<bool>()) << shape.dump();
    EXPECT_EQ(shape["headline"].get<std::string>().rfind("RuntimeError: ", 0), 0u);
    ExpectReported(cases, "pytorch/eager export_unsupported", dir);
    EXPECT_TRUE(cases.at("pytorch/eager export_unsupported")["names_culprit"].get<bool>());
  }
}

TEST(DxE2E, IntoARunFolderAddsItsSectionToTheReport) {
  const auto out = FreshDir("dx_e2e_into");
  const auto run_dir = out / "run";
  std::filesystem::copy(
      std::filesystem::path(FWBENCH_TEST_DIR) / "fixtures/runs/20261205-060344-default", run_dir,
      std::filesystem::copy_options::recursive);
  const Output dx = RunFwbench("dx --backends libtorch --faults wrong_dtype --out " +
                               (out / "dx").string() + " --into " + run_dir.string());
  ASSERT_EQ(dx.code, 0) << dx.text;
  const auto results = nlohmann::json::parse(ReadText(run_dir / "results.json"), nullptr, false);
  ASSERT_TRUE(results.is_object() && results.contains("dx")) << dx.text;
  EXPECT_EQ(results["dx"]["cases"][0]["outcome"], "error");
  const std::string md = ReadText(run_dir / "report.md");
  EXPECT_NE(md.find("## Developer experience"), std::string::npos);
  EXPECT_NE(md.find("| libtorch/eager | wrong_dtype | error (c10::Error) |"), std::string::npos)
      << md;
  EXPECT_NE(ReadText(run_dir / "report.html").find("id=\"dx-cases\""), std::string::npos);
  // Not a run folder: a usage error naming it.
  const Output bad = RunFwbench("dx --backends libtorch --faults wrong_dtype --out " +
                                (out / "dx").string() + " --into " + out.string());
  EXPECT_EQ(bad.code, 2) << bad.text;
  EXPECT_NE(bad.text.find("no results.json there"), std::string::npos) << bad.text;
}

// The other frameworks installed here, each on a fault its port is known to report.
TEST(DxE2E, EveryOtherFrameworkRunsItsCases) {
  const std::vector<std::pair<std::string, std::string>> known = {
      {"tensorflow/eager", "shape_mismatch"},
      {"keras3/jax", "shape_mismatch"},
      {"jax/jit", "shape_mismatch"},
      {"tfjs/cpu", "bad_batch"},
      {"onnxruntime/optimized", "wrong_dtype"},
      {"onnxruntime-node/optimized", "wrong_dtype"},
      {"opencv-dnn/default", "bad_batch"},
      {"openvino/latency", ""}};
  std::string backends;
  std::vector<std::pair<std::string, std::string>> here;
  for (const auto& [target, fault] : known) {
    const std::string name = target.substr(0, target.find('/'));
    std::string skip;
    WorkerEntry(Doctor(), name, target.substr(target.find('/') + 1), skip);
    if (!skip.empty()) {
      std::cout << target << " left out: " << skip << "\n";
      continue;
    }
    backends += (backends.empty() ? "" : ",") + target;
    here.emplace_back(target, fault);
  }
  if (here.empty()) GTEST_SKIP() << "no framework worker runs here";
  const auto out = FreshDir("dx_e2e_others");
  const Output run =
      RunFwbench("dx --backends " + backends +
                 " --faults shape_mismatch,bad_batch,wrong_dtype --out " + out.string());
  ASSERT_EQ(run.code, 0) << run.text;
  std::filesystem::path dir;
  const auto cases = Cases(out, dir);
  EXPECT_EQ(cases.size(), 3 * here.size());
  for (const auto& [key, c] : cases) ExpectRecord(c, dir);
  for (const auto& [target, fault] : here) {
    if (!fault.empty()) ExpectReported(cases, target + " " + fault, dir);
    // An inference runtime has no training case, and says so without a process.
    const nlohmann::json& shape = cases.at(target + " shape_mismatch");
    const bool runtime = target.rfind("onnxruntime", 0) == 0 || target.rfind("open", 0) == 0;
    if (runtime) EXPECT_EQ(shape["outcome"], "n/a") << shape.dump();
  }
}

}  // namespace
}  // namespace fwbench::testing
