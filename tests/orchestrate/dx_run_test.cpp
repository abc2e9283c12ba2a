// One `fwbench dx` case against stand-in ports (shell scripts speaking the dx events): what the
// record says when the framework raised, when the process dies or hangs, when the port refuses
// its request, and the cases that need no process.
#include "orchestrate/dx_run.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/temp_dir_test.h"

namespace fwbench::testing {
namespace {

class DxRun : public TempDirTest {
 protected:
  // A worker whose dx port is `script` (sh): $2 is the framework, $3 the request file, whose
  // error_file the script finds with sed.
  BuiltinBackend Worker(const std::string& script, bool trains = true) {
    const auto path = dir_ / "port.sh";
    std::ofstream(path)
        << "req=\"$3\"\n"
        << "err=$(sed -n 's/.*\"error_file\": *\"\\([^\"]*\\)\".*/\\1/p' \"$req\")\n"
        << script;
    BuiltinBackend b;
    b.name = "fake";
    b.command = {"/bin/sh", path.string(), "fakefw", "{spec}"};
    b.modes = {"m"};
    b.tasks =
        trains ? std::vector<std::string>{"train", "infer"} : std::vector<std::string>{"infer"};
    return b;
  }
  DxOptions Options(double timeout_s = 30.0) {
    DxOptions o;
    o.out_dir = dir_ / "dx";
    o.self_exe = "/nonexistent/fwbench";
    o.timeout_s = timeout_s;
    return o;
  }
};

constexpr char kHello[] =
    "echo '{\"event\":\"dx_hello\",\"framework\":\"Fake\",\"version\":\"1.0\","
    "\"language\":\"sh\",\"threads\":1,\"port_file\":\"/w/dx_fake.py\"}'\n"
    "echo '{\"event\":\"dx_start\",\"t\":1000000000}'\n";

TEST_F(DxRun, AnErrorIsMeasuredFromTheErrorFile) {
  const BuiltinBackend b = Worker(
      std::string(kHello) +
      "echo '{\"event\":\"dx_step\",\"i\":0,\"loss\":2.3,\"finite\":true}'\n"
      "echo '{\"event\":\"dx_step\",\"i\":1,\"loss\":2.2,\"finite\":true}'\n"
      "printf 'a warning first\\n' > \"$err\"\n"
      "printf 'Traceback (most recent call last):\\n  File \"/w/dx_fake.py\", line 9, in f\\n"
      "    self.classifier(x)\\nValueError: bad width 3071\\n' >> \"$err\"\n"
      "echo '{\"event\":\"dx_end\",\"outcome\":\"error\",\"t\":3500000000,\"steps\":2,"
      "\"exception\":\"ValueError\",\"error_offset\":16}'\n");
  const nlohmann::json r = RunDxCase(b, "m", DxFaultNamed("bad_batch"), Options());
  EXPECT_EQ(r["outcome"], "error") << r.dump();
  EXPECT_EQ(r["exception"], "ValueError");
  EXPECT_EQ(r["framework"], "Fake");
  EXPECT_EQ(r["steps"], 2);
  EXPECT_DOUBLE_EQ(r["seconds"].get<double>(), 2.5);
  EXPECT_EQ(r["lines"], 5);
  EXPECT_EQ(r["frames"], 1);
  EXPECT_EQ(r["headline"], "ValueError: bad width 3071");
  EXPECT_TRUE(r["names_culprit"].get<bool>());  // 3071, in the message
  EXPECT_TRUE(r["names_port_line"].get<bool>());
  EXPECT_EQ(r["error_file"], "cases/fake_m_bad_batch/error.txt");
  // The request the port read names the fault, mode and the error file.
  std::ifstream in(dir_ / "dx/cases/fake_m_bad_batch/request.json");
  const auto request = nlohmann::json::parse(in);
  EXPECT_EQ(request["fault"], "bad_batch");
  EXPECT_EQ(request["mode"], "m");
}

TEST_F(DxRun, ADeadOrHungPortOrARefusedRequestIsSaidSo) {
  nlohmann::json r =
      RunDxCase(Worker(std::string(kHello) + "echo 'going down' >&2\nkill -SEGV $$\n"), "m",
                DxFaultNamed("wrong_dtype"), Options());
  EXPECT_EQ(r["outcome"], "crash") << r.dump();
  EXPECT_NE(r["detail"].get<std::string>().find("without dx_end: going down"), std::string::npos)
      << r.dump();
  r = RunDxCase(Worker(std::string(kHello) + "exec sleep 30\n"), "m", DxFaultNamed("wrong_dtype"),
                Options(1.0));
  EXPECT_EQ(r["outcome"], "hang") << r.dump();
  EXPECT_EQ(r["detail"], "no end after 1 s (killed)");
  r = RunDxCase(Worker("echo '{\"event\":\"error\",\"kind\":\"usage\",\"message\":\"req: field "
                       "mode must be a string\"}'\nexit 2\n"),
                "m", DxFaultNamed("wrong_dtype"), Options());
  EXPECT_EQ(r["outcome"], "failed") << r.dump();
  EXPECT_EQ(r["detail"], "req: field mode must be a string");
}

TEST_F(DxRun, CasesThatNeedNoProcess) {
  // A runtime trains and exports nothing; one without the dx model in ONNX says why.
  BuiltinBackend runtime = Worker("exit 99\n", false);
  nlohmann::json r = RunDxCase(runtime, "m", DxFaultNamed("shape_mismatch"), Options());
  EXPECT_EQ(r["outcome"], "n/a");
  EXPECT_EQ(r["detail"], "a runtime: it runs a model file, it does not train one");
  EXPECT_EQ(RunDxCase(runtime, "m", DxFaultNamed("export_unsupported"), Options())["detail"],
            "a runtime: it exports nothing");
  runtime.needs_onnx = true;
  DxOptions o = Options();
  o.onnx_missing = "no dx model in ONNX";
  EXPECT_EQ(RunDxCase(runtime, "m", DxFaultNamed("bad_batch"), o)["detail"], "no dx model in ONNX");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "dx/cases"));
  // LibTorch's port is fwbench itself; a worker's is its program with --dx.
  BuiltinBackend libtorch;
  libtorch.name = "libtorch";
  EXPECT_EQ(DxCommand(libtorch, "/b/fwbench", "/r.json"),
            (std::vector<std::string>{"/b/fwbench", "dx-case", "/r.json"}));
  EXPECT_EQ(DxCommand(runtime, "/b/fwbench", "/r.json")[2], "--dx");
  EXPECT_EQ(DxDefaultModes(libtorch), (std::vector<std::string>{"eager"}));
}

TEST_F(DxRun, TheOnnxModelComesFromAWorkerThatWroteIt) {
  // $2 is --dx-onnx, $3 the file.
  auto worker = [&](const std::string& name, const std::string& script) {
    const auto path = dir_ / (name + ".sh");
    std::ofstream(path) << script;
    BuiltinBackend b;
    b.name = name;
    b.python = true;
    b.command = {"/bin/sh", path.string(), "fw", "{spec}"};
    return b;
  };
  const auto out = dir_ / "dx.onnx";
  const BuiltinBackend refuses =
      worker("onnxruntime", "echo '{\"ok\": false, \"reason\": \"No module named onnx\"}'\n");
  const BuiltinBackend writes =
      worker("opencv-dnn", "echo model > \"$2\"\necho '{\"ok\": true, \"file\": \"x\"}'\n");
  // An answer of ok false is not a model: the next worker writes it.
  EXPECT_EQ(WriteDxOnnxModel({refuses, writes}, out), "");
  EXPECT_TRUE(std::filesystem::is_regular_file(out));
  std::filesystem::remove(out);
  const std::string why = WriteDxOnnxModel({refuses}, out);
  EXPECT_NE(why.find("onnxruntime: No module named onnx"), std::string::npos) << why;
  EXPECT_NE(WriteDxOnnxModel({}, out).find("neither runs here"), std::string::npos);
}

}  // namespace
}  // namespace fwbench::testing
