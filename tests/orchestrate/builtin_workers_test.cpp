// The built-in worker catalogue and the boilerplate metric's line counter.
#include "orchestrate/builtin_workers.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

namespace fwbench {
namespace {

std::filesystem::path Write(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("fwbench-cloc-" + name);
  std::ofstream(path) << text;
  return path;
}

TEST(CountCodeLines, PythonSkipsBlankCommentAndDocstringLines) {
  const auto path = Write("a.py",
                          "\"\"\"Module docstring\n"
                          "over two lines.\"\"\"\n"
                          "import os\n"
                          "\n"
                          "# a comment\n"
                          "def f(x):\n"
                          "    \"\"\"One-line docstring.\"\"\"\n"
                          "    return x  # trailing comment counts as code\n");
  EXPECT_EQ(CountCodeLines(path), 3);
}

TEST(CountCodeLines, JavaScriptAndCppSkipLineAndBlockComments) {
  const auto path = Write("a.js",
                          "'use strict';\n"
                          "// comment\n"
                          "/* block\n"
                          "   still block */\n"
                          "/** one-line block */\n"
                          "const x = 1;\n"
                          "\n"
                          "function f() { return x; }\n");
  EXPECT_EQ(CountCodeLines(path), 3);
}

TEST(CountCodeLines, MissingFileIsMinusOne) {
  EXPECT_EQ(CountCodeLines("/nonexistent/port.py"), -1);
}

TEST(BuiltinWorkerCatalogue, EveryWorkerHasModesTasksAndAutoModesItRuns) {
  const auto catalogue = BuiltinWorkerCatalogue();
  ASSERT_GE(catalogue.size(), 7u);
  for (const BuiltinBackend& b : catalogue) {
    EXPECT_FALSE(b.modes.empty()) << b.name;
    EXPECT_FALSE(b.tasks.empty()) << b.name;
    for (const std::string& m : b.auto_modes) EXPECT_TRUE(b.RunsMode(m)) << b.name << "/" << m;
  }
}

// The default run's comparison (issue 18): PyTorch eager and compiled, TensorFlow eager and XLA,
// Keras 3 on two backends, JAX, ONNX Runtime and OpenVINO; the Node runtimes one flag away.
TEST(BuiltinWorkerCatalogue, AutoIsThePythonStacksComparison) {
  std::map<std::string, std::vector<std::string>> autos;
  for (const BuiltinBackend& b : BuiltinWorkerCatalogue()) autos[b.name] = b.auto_modes;
  using V = std::vector<std::string>;
  EXPECT_EQ(autos["pytorch"], (V{"eager", "compiled"}));
  EXPECT_EQ(autos["tensorflow"], (V{"eager", "xla"}));
  EXPECT_EQ(autos["keras3"], (V{"jax", "tensorflow"}));
  EXPECT_EQ(autos["jax"], (V{"jit"}));
  EXPECT_EQ(autos["onnxruntime"], (V{"optimized"}));
  EXPECT_EQ(autos["openvino"], (V{"latency"}));
  EXPECT_TRUE(autos["onnxruntime-node"].empty());
  EXPECT_TRUE(autos["tfjs"].empty());
}

// A plan's interpreter for a built-in worker is the only one tried for it.
TEST(ProbeBuiltinWorkers, APlanInterpreterIsTheOnlyOneTriedForThatWorker) {
  const auto probed = ProbeBuiltinWorkers(std::filesystem::path(FWBENCH_SOURCE_DIR) / "workers",
                                          {{"jax", "/nonexistent/python"}});
  bool seen = false;
  for (const BuiltinBackend& b : probed) {
    if (b.name != "jax") continue;
    seen = true;
    EXPECT_FALSE(b.Available());
    EXPECT_NE(b.unavailable.find("/nonexistent/python"), std::string::npos) << b.unavailable;
    EXPECT_EQ(b.unavailable.find(';'), std::string::npos) << "tried others: " << b.unavailable;
  }
  EXPECT_TRUE(seen);
}

TEST(ProbeBuiltinWorkers, MissingWorkersFolderMakesEveryWorkerUnavailableWithTheReason) {
  const auto probed = ProbeBuiltinWorkers("/nonexistent/workers");
  ASSERT_FALSE(probed.empty());
  for (const BuiltinBackend& b : probed) {
    EXPECT_FALSE(b.Available()) << b.name;
    EXPECT_NE(b.unavailable.find("/nonexistent/workers"), std::string::npos) << b.unavailable;
  }
}

}  // namespace
}  // namespace fwbench
