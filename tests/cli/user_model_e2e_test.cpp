// Your own model (workload user_model, issue 21): ONNX files the test builds with PyTorch at run
// time (no downloads) run on every ONNX runtime here with parity against ONNX Runtime; PyTorch
// modules (--model-py: torchvision's ResNet-18 with random weights, a transformer encoder on
// int64 token ids) run in PyTorch's modes and, converted to ONNX, on the ONNX runtimes, with
// parity against PyTorch eager; bad input (a malformed file, an input the model lacks, an open
// dimension, an undeclared module input) is a usage error that names what is wrong, and an
// operator the converter cannot handle is a portability row that names it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "run_fwbench.h"
#include "user_models.h"
#include "worker_catalogue.h"

namespace fwbench::testing {
namespace {

TEST(UserModelE2E, AnOnnxCnnRunsOnEveryOnnxRuntimeHereWithParityAgainstOnnxRuntime) {
  const auto dir = FreshDir("user_model_cnn");
  std::string skip;
  if (BuildModels(dir, skip).empty()) GTEST_SKIP() << skip;
  const std::vector<std::string> runtimes = OnnxRuntimesHere();
  if (std::find(runtimes.begin(), runtimes.end(), "onnxruntime") == runtimes.end()) {
    GTEST_SKIP() << "ONNX Runtime, the reference of an ONNX model, does not run here";
  }
  const Output out =
      RunFwbench("run --model-file " + (dir / "cnn.onnx").string() +
                 " --quick --trials 1 --batch-sizes 1,4 --out " + (dir / "out").string());
  ASSERT_EQ(out.code, 0) << out.text;
  const auto results =
      nlohmann::json::parse(ReadText(RunDir(dir / "out") / "results.json"), nullptr, false);
  ASSERT_TRUE(results.is_object()) << out.text;
  EXPECT_EQ(results["plan"]["workload"], "user_model");
  std::set<std::string> ran, modes;
  for (const auto& c : results["configurations"]) {
    ran.insert(c["backend"].get<std::string>());
    modes.insert(c["backend"].get<std::string>() + "/" + c["mode"].get<std::string>());
    EXPECT_EQ(c["trials_ok"], 1) << c.dump();
    const std::string parity = c["parity"]["status"];
    EXPECT_TRUE(parity == "pass" || parity == "reference") << c.dump();
    EXPECT_EQ(c["parity"].value("reference", ""), "onnxruntime/optimized/infer/b1") << c.dump();
  }
  for (const std::string& r : runtimes) EXPECT_TRUE(ran.contains(r)) << r << "\n" << out.text;
  EXPECT_EQ(results["configurations"].size(), 2 * modes.size());  // batch sizes 1 and 4
  // TensorFlow runs onnx2tf's SavedModel of it, in both its modes, where it runs here.
  std::string tf_skip;
  WorkerEntry(Doctor(), "tensorflow", "function", tf_skip);
  if (tf_skip.empty()) {
    EXPECT_TRUE(modes.contains("tensorflow/function") && modes.contains("tensorflow/xla"))
        << out.text;
    const nlohmann::json& um = results["user_model"];
    EXPECT_EQ(um["runtimes"]["tensorflow"]["loads"], "savedmodel") << um.dump();
    EXPECT_TRUE(um["runtimes"]["tensorflow"]["via"].get<std::string>().starts_with("onnx2tf "))
        << um.dump();
  } else {
    std::cout << "tensorflow does not run here, left out: " << tf_skip << "\n";
  }
  // fwbench's own model and its LibTorch runner are not part of a user-model run.
  EXPECT_FALSE(ran.contains("libtorch")) << out.text;
}

TEST(UserModelE2E, TokenIdsRunWithTheSequenceLengthThePlanSetsAndAnOpenOneIsAUsageError) {
  const auto dir = FreshDir("user_model_tokens");
  std::string skip;
  if (BuildModels(dir, skip).empty()) GTEST_SKIP() << skip;
  const std::vector<std::string> runtimes = OnnxRuntimesHere();
  if (std::find(runtimes.begin(), runtimes.end(), "onnxruntime") == runtimes.end()) {
    GTEST_SKIP() << "ONNX Runtime, the reference of an ONNX model, does not run here";
  }
  const std::string model = (dir / "tokens.onnx").string();
  const Output open =
      RunFwbench("run --model-file " + model + " --quick --out " + (dir / "open").string());
  EXPECT_EQ(open.code, 2) << open.text;
  EXPECT_NE(open.text.find(model + ": input 'ids' leaves dimension 1 open ('seq')"),
            std::string::npos)
      << open.text;
  EXPECT_NE(open.text.find("--input ids:INT64:"), std::string::npos) << open.text;

  const Output out = RunFwbench("run --model-file " + model +
                                " --input ids:INT64:Nx24:0-1000 --quick --trials 1 "
                                "--backends onnxruntime,openvino --out " +
                                (dir / "out").string());
  if (std::find(runtimes.begin(), runtimes.end(), "openvino") == runtimes.end()) {
    EXPECT_EQ(out.code, 2) << out.text;  // openvino named but not here
    return;
  }
  ASSERT_EQ(out.code, 0) << out.text;
  const auto results =
      nlohmann::json::parse(ReadText(RunDir(dir / "out") / "results.json"), nullptr, false);
  ASSERT_TRUE(results.is_object()) << out.text;
  ASSERT_EQ(results["configurations"].size(), 4u) << out.text;  // --quick: batches 1 and 8
  for (const auto& c : results["configurations"]) {
    EXPECT_EQ(c["trials_ok"], 1) << c.dump();
    const std::string parity = c["parity"]["status"];
    EXPECT_TRUE(parity == "pass" || parity == "reference") << c.dump();
  }
}

TEST(UserModelE2E, AMalformedFileAnUnknownFormatAndAnInputTheModelLacksAreUsageErrors) {
  const auto dir = FreshDir("user_model_bad");
  std::ofstream(dir / "broken.onnx") << "not a protobuf";
  std::ofstream(dir / "model.bin") << "weights";
  const Output unknown = RunFwbench("run --model-file " + (dir / "model.bin").string() +
                                    " --quick --out " + (dir / "out").string());
  EXPECT_EQ(unknown.code, 2) << unknown.text;
  EXPECT_NE(unknown.text.find((dir / "model.bin").string() + ": not a model format"),
            std::string::npos)
      << unknown.text;
  const Output missing = RunFwbench("run --model-file " + (dir / "nope.onnx").string() +
                                    " --quick --out " + (dir / "out").string());
  EXPECT_EQ(missing.code, 2) << missing.text;
  EXPECT_NE(missing.text.find("no such model file"), std::string::npos) << missing.text;

  std::string skip;
  const nlohmann::json env = Doctor();
  WorkerEntry(env, "onnxruntime", "optimized", skip);
  if (!skip.empty()) GTEST_SKIP() << "ONNX Runtime does not run here: " << skip;
  const Output broken = RunFwbench("run --model-file " + (dir / "broken.onnx").string() +
                                   " --quick --out " + (dir / "out").string());
  EXPECT_EQ(broken.code, 2) << broken.text;
  EXPECT_NE(broken.text.find((dir / "broken.onnx").string() + ": ONNX Runtime"), std::string::npos)
      << broken.text;
  if (BuildModels(dir, skip).empty()) GTEST_SKIP() << skip;
  const Output lacks =
      RunFwbench("run --model-file " + (dir / "cnn.onnx").string() +
                 " --input image:FP32:Nx3x16x16 --quick --out " + (dir / "out").string());
  EXPECT_EQ(lacks.code, 2) << lacks.text;
  EXPECT_NE(lacks.text.find("--input image: " + (dir / "cnn.onnx").string() +
                            " has no input of that name (its inputs: pixels)"),
            std::string::npos)
      << lacks.text;
}

nlohmann::json ResultsOf(const std::filesystem::path& out) {
  return nlohmann::json::parse(ReadText(RunDir(out) / "results.json"), nullptr, false);
}

TEST(UserModelE2E, TorchvisionResNet18AsAModuleRunsOnEveryRuntimeHereWithParityAgainstPyTorch) {
  const auto dir = FreshDir("user_model_resnet");
  std::string skip;
  if (!WriteModules(dir, skip)) GTEST_SKIP() << "PyTorch does not run here: " << skip;
  // Imported from where fwbench runs, as `python -m` would.
  const Output out = RunFwbench(
      "run --model-py models:resnet18 --input x:FP32:Nx3x32x32 --quick "
      "--trials 1 --warmup-trials 0 --batch-sizes 2 --out " +
          (dir / "out").string(),
      "cd " + dir.string() + " &&");
  // Exit 1 only for trials that failed, which may be OpenCV's alone (checked below).
  ASSERT_TRUE(out.code == 0 || out.code == 1) << out.text;
  const nlohmann::json results = ResultsOf(dir / "out");
  ASSERT_TRUE(results.is_object()) << out.text;
  for (const auto& t : results["trials"]) {
    if (t["status"] != "ok") EXPECT_TRUE(t["config"].get<std::string>().starts_with("opencv-dnn/"));
  }
  const nlohmann::json& um = results["user_model"];
  EXPECT_EQ(um["format"], "pytorch_module");
  EXPECT_EQ(um["reference"], "pytorch");
  std::map<std::string, std::string> parity;
  for (const auto& c : results["configurations"]) {
    parity[c["backend"].get<std::string>() + "/" + c["mode"].get<std::string>()] =
        c["parity"]["status"];
  }
  // PyTorch in each of its modes, the reference its eager mode.
  EXPECT_EQ(parity["pytorch/eager"], "reference") << out.text;
  EXPECT_EQ(parity["pytorch/torchscript"], "pass") << out.text;
  const nlohmann::json env = Doctor();
  WorkerEntry(env, "pytorch", "compiled", skip);
  if (skip.empty()) EXPECT_EQ(parity["pytorch/compiled"], "pass") << out.text;
  // The ONNX runtimes on fwbench's conversion of it, the converter and its version recorded.
  ASSERT_EQ(um["conversions"].size(), 1u) << um.dump();
  EXPECT_TRUE(um["conversions"][0]["ok"].get<bool>()) << um.dump();
  EXPECT_NE(um["conversions"][0]["converter"].get<std::string>().find("torch.onnx.export"),
            std::string::npos);
  for (const std::string& runtime : OnnxRuntimesHere()) {
    EXPECT_EQ(um["runtimes"][runtime]["loads"], "onnx") << um.dump();
    const auto it = std::find_if(parity.begin(), parity.end(),
                                 [&](const auto& p) { return p.first.starts_with(runtime + "/"); });
    ASSERT_NE(it, parity.end()) << runtime << " did not run\n" << out.text;
    if (runtime == "opencv-dnn" && it->second != "pass") {
      // OpenCV 4.6 loads few of today's exports: a portability finding with its loader's words.
      EXPECT_NE(ReadText(RunDir(dir / "out") / "report.md").find("OpenCV"), std::string::npos);
      continue;
    }
    EXPECT_EQ(it->second, "pass") << runtime << "\n" << out.text;
  }
  const std::string report = ReadText(RunDir(dir / "out") / "report.md");
  EXPECT_NE(report.find("## Portability"), std::string::npos);
  EXPECT_NE(report.find("Model models:resnet18 (your PyTorch module)"), std::string::npos);
}

TEST(UserModelE2E, ATransformerEncoderOnTokenIdsRunsAsAModuleAndConverted) {
  const auto dir = FreshDir("user_model_encoder");
  std::string skip;
  if (!WriteModules(dir, skip)) GTEST_SKIP() << "PyTorch does not run here: " << skip;
  std::string backends = "pytorch,pytorch/torchscript";
  for (const std::string& r : OnnxRuntimesHere()) {
    if (r != "opencv-dnn") backends += "," + r;
  }
  // Imported through PYTHONPATH this time; the sequence length and vocabulary from --input.
  const Output undeclared =
      RunFwbench("run --model-py models:encoder --quick --out " + (dir / "bad").string(),
                 "PYTHONPATH=" + dir.string());
  EXPECT_EQ(undeclared.code, 2) << undeclared.text;
  EXPECT_NE(undeclared.text.find("models:encoder: input 'ids' has no dtype or shape the model "
                                 "declares; describe it with --input ids:DTYPE:DIMS"),
            std::string::npos)
      << undeclared.text;
  const Output out = RunFwbench(
      "run --model-py models:encoder --input ids:INT64:Nx16:0-1000 "
      "--backends " +
          backends +
          " --quick --trials 1 --warmup-trials 0 --batch-sizes 2 "
          "--out " +
          (dir / "out").string(),
      "PYTHONPATH=" + dir.string());
  ASSERT_EQ(out.code, 0) << out.text;
  const nlohmann::json results = ResultsOf(dir / "out");
  ASSERT_TRUE(results.is_object()) << out.text;
  EXPECT_EQ(results["user_model"]["inputs"][0],
            (nlohmann::json{{"name", "ids"}, {"dtype", "int64"}, {"shape", {16}}}));
  std::size_t runs = 0;
  for (const auto& c : results["configurations"]) {
    ++runs;
    EXPECT_EQ(c["trials_ok"], 1) << c.dump();
    const std::string parity = c["parity"]["status"];
    EXPECT_TRUE(parity == "pass" || parity == "reference") << c.dump();
    EXPECT_EQ(c["parity"].value("reference", ""), "pytorch/eager/infer/b2") << c.dump();
  }
  EXPECT_EQ(runs, static_cast<std::size_t>(std::count(backends.begin(), backends.end(), ',') + 1));
}

TEST(UserModelE2E, AnOperatorTheConverterCannotHandleIsAPortabilityRowThatNamesIt) {
  const auto dir = FreshDir("user_model_eigen");
  std::string skip;
  if (!WriteModules(dir, skip)) GTEST_SKIP() << "PyTorch does not run here: " << skip;
  const std::vector<std::string> onnx_runtimes = OnnxRuntimesHere();
  if (onnx_runtimes.empty()) GTEST_SKIP() << "no ONNX runtime here to convert for";
  const Output bad_factory = RunFwbench(
      "run --model-py models:nothing --input x:FP32:Nx4x4 --quick --out " + (dir / "bad").string(),
      "cd " + dir.string() + " &&");
  EXPECT_EQ(bad_factory.code, 2) << bad_factory.text;
  EXPECT_NE(bad_factory.text.find("--model-py models:nothing: models has no attribute nothing"),
            std::string::npos)
      << bad_factory.text;
  // Every runtime (auto), so that one the model cannot reach is a row, not a refused plan.
  const Output out = RunFwbench(
      "run --model-py models:eigen --input x:FP32:Nx4x4 --quick --trials 1 "
      "--warmup-trials 0 --batch-sizes 2 --out " +
          (dir / "out").string(),
      "cd " + dir.string() + " &&");
  ASSERT_EQ(out.code, 0) << out.text;
  const nlohmann::json results = ResultsOf(dir / "out");
  ASSERT_TRUE(results.is_object()) << out.text;
  const nlohmann::json& um = results["user_model"];
  ASSERT_EQ(um["conversions"].size(), 1u) << um.dump();
  EXPECT_FALSE(um["conversions"][0]["ok"].get<bool>());
  EXPECT_NE(um["conversions"][0]["reason"].get<std::string>().find("aten.linalg_eig"),
            std::string::npos)
      << um.dump();
  for (const std::string& runtime : onnx_runtimes) {
    EXPECT_NE(um["runtimes"][runtime].value("refused", "").find("aten.linalg_eig"),
              std::string::npos)
        << runtime << ": " << um.dump();
  }
  for (const auto& c : results["configurations"]) {
    EXPECT_EQ(c["backend"], "pytorch") << "only PyTorch runs it: " << c.dump();
  }
  const std::string report = ReadText(RunDir(dir / "out") / "report.md");
  const auto section = report.find("## Portability");
  ASSERT_NE(section, std::string::npos);
  EXPECT_NE(report.find("aten.linalg_eig", section), std::string::npos);
}

TEST(UserModelE2E, TorchScriptAndTorchExportFilesRunInPyTorchAndConvertedOnOnnxRuntime) {
  const auto dir = FreshDir("user_model_torchscript");
  std::string skip;
  if (!WriteModules(dir, skip)) GTEST_SKIP() << "PyTorch does not run here: " << skip;
  const std::string saved =
      RunVenvScript("pytorch", dir / "save.py", R"(import sys, torch
torch.manual_seed(0)
cnn = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                          torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                          torch.nn.Linear(8, 5)).eval()
x = torch.zeros(2, 3, 16, 16)
torch.jit.trace(cnn, x).save(sys.argv[1] + "/cnn.pt")
program = torch.export.export(cnn, (x,), dynamic_shapes=({0: torch.export.Dim("batch")},))
torch.export.save(program, sys.argv[1] + "/cnn.pt2")
sys.path.insert(0, sys.argv[2])
from fwbench_workers import safetensors_np
safetensors_np.write(sys.argv[1] + "/rows.safetensors",
                     {"input": torch.rand(6, 3, 16, 16).numpy()})
)",
                    dir.string() + " " + FWBENCH_SOURCE_DIR + "/workers/python");
  ASSERT_EQ(saved, "");
  std::ofstream(dir / "broken.pt") << "not an archive";
  const Output broken = RunFwbench("run --model-file " + (dir / "broken.pt").string() +
                                   " --input x:FP32:Nx3x16x16 --backends pytorch --quick --out " +
                                   (dir / "bad").string());
  EXPECT_EQ(broken.code, 2) << broken.text;
  EXPECT_NE(broken.text.find((dir / "broken.pt").string() + ": PyTorch"), std::string::npos)
      << broken.text;
  std::string backends = "pytorch,pytorch/torchscript";
  const std::vector<std::string> onnx = OnnxRuntimesHere();
  const bool ort = std::find(onnx.begin(), onnx.end(), "onnxruntime") != onnx.end();
  if (ort) backends += ",onnxruntime";
  // TorchScript names its inputs only (--input gives the rest); torch.export declares all.
  for (const auto& [file, input] :
       {std::pair<std::string, std::string>{"cnn.pt", " --input input:FP32:Nx3x16x16"},
        std::pair<std::string, std::string>{
            "cnn.pt2", " --input-file " + (dir / "rows.safetensors").string()}}) {
    const auto out = dir / ("out-" + file);
    const Output run =
        RunFwbench("run --model-file " + (dir / file).string() + input + " --backends " + backends +
                   " --quick --trials 1 --warmup-trials 0 --batch-sizes 2 --out " + out.string());
    ASSERT_EQ(run.code, 0) << file << "\n" << run.text;
    const nlohmann::json results = ResultsOf(out);
    ASSERT_TRUE(results.is_object()) << run.text;
    EXPECT_EQ(results["user_model"]["format"],
              file == "cnn.pt" ? "torchscript" : "exported_program");
    ASSERT_EQ(results["configurations"].size(), ort ? 3u : 2u) << run.text;
    for (const auto& c : results["configurations"]) {
      EXPECT_EQ(c["trials_ok"], 1) << c.dump();
      const std::string parity = c["parity"]["status"];
      EXPECT_TRUE(parity == "pass" || parity == "reference") << file << ": " << c.dump();
    }
    if (ort) EXPECT_TRUE(results["user_model"]["conversions"][0]["ok"].get<bool>());
    // The .pt2 run feeds the user's own rows (a safetensors file): 6 of them.
    if (file == "cnn.pt2") EXPECT_EQ(results["user_model"]["rows"], 6);
  }
  // torch.compile does not compile a TorchScript file: named, it is refused up front.
  const Output compiled = RunFwbench("run --model-file " + (dir / "cnn.pt").string() +
                                     " --input input:FP32:Nx3x16x16 --backends pytorch/compiled "
                                     "--quick --out " +
                                     (dir / "compiled").string());
  EXPECT_EQ(compiled.code, 2) << compiled.text;
  EXPECT_NE(compiled.text.find("modes that do: eager, torchscript"), std::string::npos)
      << compiled.text;
}

TEST(UserModelE2E, ASavedModelRunsInTensorFlowAndConvertedByTf2onnxOnOnnxRuntime) {
  const auto dir = FreshDir("user_model_savedmodel");
  std::string skip;
  const nlohmann::json env = Doctor();
  WorkerEntry(env, "tensorflow", "function", skip);
  if (!skip.empty()) GTEST_SKIP() << "TensorFlow does not run here: " << skip;
  const auto model = dir / "saved";
  ASSERT_EQ(RunVenvScript("tensorflow", dir / "save.py", std::string(kSmallTfModelsPy) + R"(
saved_model_cnn(sys.argv[1])
import tensorflow as tf
class Eig(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 4, 4], tf.float32, name="x")])
    def serve(self, x):
        return {"y": tf.math.real(tf.linalg.eigvals(tf.matmul(x, x, transpose_b=True)))}
e = Eig()
tf.saved_model.save(e, sys.argv[1] + "-eig", signatures={"serving_default": e.serve})
)",
                          model.string()),
            "");
  std::filesystem::create_directories(dir / "broken");
  std::ofstream(dir / "broken" / "saved_model.pb") << "not a protobuf";
  const Output broken =
      RunFwbench("run --model-file " + (dir / "broken").string() +
                 " --backends tensorflow/function --quick --out " + (dir / "bad").string());
  EXPECT_EQ(broken.code, 2) << broken.text;
  EXPECT_NE(broken.text.find((dir / "broken").string() + ": TensorFlow"), std::string::npos)
      << broken.text;
  // TensorFlow runs the signature; tf2onnx converts it for ONNX Runtime, parity against TensorFlow.
  const Output out =
      RunFwbench("run --model-file " + model.string() +
                 " --backends tensorflow/function,tensorflow/xla,onnxruntime --quick "
                 "--trials 1 --warmup-trials 0 --batch-sizes 2 --out " +
                 (dir / "out").string());
  ASSERT_EQ(out.code, 0) << out.text;
  const nlohmann::json results = ResultsOf(dir / "out");
  ASSERT_TRUE(results.is_object()) << out.text;
  const nlohmann::json& um = results["user_model"];
  EXPECT_EQ(um["format"], "savedmodel");
  EXPECT_EQ(um["inputs"][0],
            (nlohmann::json{{"name", "pixels"}, {"dtype", "float32"}, {"shape", {16, 16, 3}}}));
  ASSERT_EQ(um["conversions"].size(), 1u) << um.dump();
  EXPECT_TRUE(um["conversions"][0]["ok"].get<bool>()) << um.dump();
  EXPECT_TRUE(um["conversions"][0]["converter"].get<std::string>().starts_with("tf2onnx "))
      << um.dump();
  EXPECT_EQ(um["runtimes"]["onnxruntime"]["loads"], "onnx") << um.dump();
  std::map<std::string, std::string> parity;
  for (const auto& c : results["configurations"]) {
    EXPECT_EQ(c["trials_ok"], 1) << c.dump();
    parity[c["backend"].get<std::string>() + "/" + c["mode"].get<std::string>()] =
        c["parity"]["status"];
  }
  EXPECT_EQ(parity["tensorflow/function"], "reference") << out.text;
  EXPECT_EQ(parity["tensorflow/xla"], "pass") << out.text;
  EXPECT_EQ(parity["onnxruntime/optimized"], "pass") << out.text;
  // An op tf2onnx cannot convert: the ONNX runtimes are a row naming it, TensorFlow runs it.
  const Output eig = RunFwbench("run --model-file " + model.string() +
                                "-eig --backends tensorflow/function,onnxruntime --quick "
                                "--trials 1 --warmup-trials 0 --batch-sizes 2 --out " +
                                (dir / "eig").string());
  ASSERT_EQ(eig.code, 0) << eig.text;
  const nlohmann::json eig_results = ResultsOf(dir / "eig");
  ASSERT_TRUE(eig_results.is_object()) << eig.text;
  const std::string refused =
      eig_results["user_model"]["runtimes"]["onnxruntime"].value("refused", "");
  EXPECT_NE(refused.find("Unsupported ops: Counter({'Eig': 1"), std::string::npos) << refused;
  ASSERT_EQ(eig_results["configurations"].size(), 1u) << eig.text;
}

TEST(UserModelE2E, AKerasFileRunsOnEveryKerasBackendAndConvertedOnTheOnnxRuntimes) {
  const auto dir = FreshDir("user_model_keras");
  std::string skip;
  const nlohmann::json env = Doctor();
  WorkerEntry(env, "keras3", "tensorflow", skip);
  if (!skip.empty()) GTEST_SKIP() << "Keras 3 does not run here: " << skip;
  const std::string model = (dir / "small.keras").string();
  ASSERT_EQ(RunVenvScript("keras3", dir / "build.py", std::string(kSmallTfModelsPy) + R"(
keras_cnn(sys.argv[1])
import numpy as np
rows = np.random.RandomState(0).rand(12, 16, 16, 3).astype(np.float32)
np.save(sys.argv[1] + ".rows.npy", rows)
np.save(sys.argv[1] + ".wide.npy", np.zeros((12, 16, 16, 4), np.float32))
)",
                          model),
            "");
  std::ofstream(dir / "broken.keras") << "not a zip";
  const Output broken =
      RunFwbench("run --model-file " + (dir / "broken.keras").string() +
                 " --backends keras3/tensorflow --quick --out " + (dir / "bad").string());
  EXPECT_EQ(broken.code, 2) << broken.text;
  EXPECT_NE(broken.text.find((dir / "broken.keras").string() + ": Keras"), std::string::npos)
      << broken.text;

  // Rows of the user's own (numpy.save) that disagree with the model: named, exit 2.
  const Output wide =
      RunFwbench("run --model-file " + model + " --input-file " + model +
                 ".wide.npy --backends keras3/tensorflow --quick --out " + (dir / "bad").string());
  EXPECT_EQ(wide.code, 2) << wide.text;
  EXPECT_NE(wide.text.find("--input-file " + model +
                           ".wide.npy ('pixels', [12, 16, 16, 4] float32): dimension 3 is 3 in "
                           "the model, not 4"),
            std::string::npos)
      << wide.text;
  const Output out = RunFwbench("run --model-file " + model + " --input-file " + model +
                                ".rows.npy --quick --trials 1 --warmup-trials 0 --batch-sizes 2 "
                                "--out " +
                                (dir / "out").string());
  ASSERT_TRUE(out.code == 0 || out.code == 1) << out.text;  // 1: trials failed, checked below
  const nlohmann::json results = ResultsOf(dir / "out");
  ASSERT_TRUE(results.is_object()) << out.text;
  const nlohmann::json& um = results["user_model"];
  EXPECT_EQ(um["format"], "keras");
  EXPECT_EQ(um["rows"], 12);  // the file's rows, not generated ones
  EXPECT_EQ(um["rows_from"][0], model + ".rows.npy");
  EXPECT_EQ(um["reference"], "keras3");
  EXPECT_EQ(um["inputs"][0],
            (nlohmann::json{{"name", "pixels"}, {"dtype", "float32"}, {"shape", {16, 16, 3}}}));
  std::map<std::string, std::string> parity;
  for (const auto& c : results["configurations"]) {
    parity[c["backend"].get<std::string>() + "/" + c["mode"].get<std::string>()] =
        c["parity"]["status"];
  }
  std::size_t keras_modes = 0;
  for (const std::string mode : {"tensorflow", "jax", "torch"}) {
    WorkerEntry(env, "keras3", mode, skip);
    if (!skip.empty()) continue;
    ++keras_modes;
    const std::string status = parity["keras3/" + mode];
    EXPECT_TRUE(status == "reference" || status == "pass") << mode << ": " << status;
  }
  EXPECT_EQ(std::count_if(parity.begin(), parity.end(),
                          [](const auto& p) { return p.second == "reference"; }),
            1);
  EXPECT_GE(keras_modes, 1u);
  for (const std::string& runtime : OnnxRuntimesHere()) {
    if (runtime == "opencv-dnn") continue;  // OpenCV 4.6 may reject the export: a finding
    EXPECT_EQ(um["runtimes"][runtime]["loads"], "onnx") << um.dump();
    const auto it = std::find_if(parity.begin(), parity.end(),
                                 [&](const auto& p) { return p.first.starts_with(runtime + "/"); });
    ASSERT_NE(it, parity.end()) << runtime << " did not run\n" << out.text;
    EXPECT_EQ(it->second, "pass") << runtime << "\n" << out.text;
  }
  for (const auto& t : results["trials"]) {
    if (t["status"] != "ok") EXPECT_TRUE(t["config"].get<std::string>().starts_with("opencv-dnn/"));
  }
}

}  // namespace
}  // namespace fwbench::testing
