// fwbench deploy, serve and load as a user runs them: one deploy of the quick ResNet (both
// fwbench serve variants and the FastAPI baseline), then a soak of the served model, then the
// commands' answers to bad input.
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "deploy/endpoint_measure.h"
#include "deploy/server_process.h"
#include "linear_repository.h"
#include "loadgen/grpc_load.h"
#include "loadgen/load_runner.h"
#include "loadgen/protocol_request.h"
#include "run_fwbench.h"

namespace fwbench {
namespace {

using fwbench::testing::FreshDir;
using fwbench::testing::RunFwbench;
using fwbench::testing::WriteLinearRepository;

bool WaitReady(deploy::ServerProcess& server, const loadgen::Url& url) {
  return deploy::WaitUntilReady(server, url, 30.0) == deploy::Readiness::kReady;
}

class ServeE2E : public ::testing::Test {
 protected:
  // One deploy for the suite (about a minute): its repository serves the other tests.
  static void SetUpTestSuite() {
    // ctest runs every test in a process of its own, two at a time: each process gets its own
    // folder, or one test's set-up would delete the folder another test's server is using.
    out_ = new std::filesystem::path(FreshDir("serve_e2e_" + std::to_string(::getpid())));
    deploy_ = new testing::Output(
        RunFwbench("deploy --quick --image-size 32 --duration 1 --warmup 0.3 --bisection-steps 0 "
                   "--start-rate 20 --p99-ms 3000 --connections 4 --serve-threads 1 --out " +
                   out_->string()));
  }
  static void TearDownTestSuite() {
    delete out_;
    delete deploy_;
  }
  // The deploy's own run folder (its export check has another one beside it).
  static std::filesystem::path RunFolder() {
    for (const auto& e : std::filesystem::directory_iterator(*out_)) {
      const std::string name = e.path().filename().string();
      if (name.size() > 7 && name.substr(name.size() - 7) == "-deploy") return e.path();
    }
    return {};
  }

  static std::filesystem::path* out_;
  static testing::Output* deploy_;
};
std::filesystem::path* ServeE2E::out_ = nullptr;
testing::Output* ServeE2E::deploy_ = nullptr;

TEST_F(ServeE2E, DeployTakesEveryServerToAMeasuredEndpointAndStopsItCleanly) {
  ASSERT_EQ(deploy_->code, 0) << deploy_->text;
  const auto d = nlohmann::json::parse(std::ifstream(RunFolder() / "deploy.json"));
  EXPECT_NE(d["export_parity"].get<std::string>().find("pass"), std::string::npos);
  EXPECT_EQ(d["image_size"], 32);
  EXPECT_EQ(d["compute_threads"], 1);
  // fwbench serve twice, FastAPI, TorchServe, and TF Serving's row saying why it is not run.
  ASSERT_EQ(d["servers"].size(), 5u) << d.dump(1);
  // Every fwbench serve read back the one compute thread it was given.
  int serve_logs = 0;
  for (const auto& e : std::filesystem::directory_iterator(RunFolder())) {
    if (!e.is_regular_file()) continue;
    std::stringstream log;
    log << std::ifstream(e.path()).rdbuf();
    if (log.str().find("serve: compute threads:") == std::string::npos) continue;
    ++serve_logs;
    EXPECT_NE(log.str().find("torch intra-op (at::get_num_threads) 1,"), std::string::npos)
        << e.path() << ": " << log.str();
  }
  EXPECT_EQ(serve_logs, 2);
  const bool torchserve_installed = std::filesystem::exists(
      std::filesystem::path(FWBENCH_SOURCE_DIR) / ".venvs/torch/bin/torchserve");
  int measured = 0;
  for (const auto& s : d["servers"]) {
    const std::string name = s["name"];
    const bool torchserve = name == "torchserve (batching)";
    if (s.contains("skipped")) {
      const std::string why = s["skipped"];
      if (name == "tf serving") {
        EXPECT_NE(why.find("tensorflow_model_server"), std::string::npos) << why;
      } else if (name == "fastapi + uvicorn" || (torchserve && !torchserve_installed)) {
        std::cout << "[  SKIPPED ] " << name << ": " << why << "\n";
      } else {
        ADD_FAILURE() << name << " was not measured: " << why;
      }
      continue;
    }
    EXPECT_FALSE(s.contains("failed")) << name << ": " << s.dump(1);
    if (s.contains("failed")) continue;
    ++measured;
    // TorchServe: the export, a handler, model-config.yaml, the archiver, config.properties,
    // the start.
    EXPECT_EQ(s["step_count"], torchserve ? 6 : 3) << name;
    EXPECT_GT(s["time_to_ready_s"].get<double>(), 0) << name;
    EXPECT_GE(s["time_to_first_prediction_s"].get<double>(), s["time_to_ready_s"].get<double>());
    EXPECT_GT(s["closed_loop"]["achieved_per_s"].get<double>(), 0) << name;
    EXPECT_EQ(s["closed_loop"]["errors"], 0) << name;
    EXPECT_GE(s["search"].size(), 1u) << name;
    EXPECT_GT(s["peak_rss_bytes"].get<double>(), 10e6) << name;
    EXPECT_TRUE(s["stopped_cleanly"].get<bool>()) << name;
    // TorchServe's Python launcher dies of the SIGTERM its Java frontend stops on.
    if (!torchserve) EXPECT_EQ(s["exit_code"], 0) << name << ": SIGTERM should drain and exit 0";
    EXPECT_NE(s["parity"]["status"], "FAIL") << name;
  }
  EXPECT_GE(measured, 2);
  EXPECT_NE(deploy_->text.find("max rate/s"), std::string::npos) << deploy_->text;
  EXPECT_FALSE(std::filesystem::exists(RunFolder() / "deploy.partial.json"));
}

// 2,000 requests to warm the allocators, then 10,000 at 64 connections: no errors, and the
// server's memory no more than 10% (or 32 MiB) above where the warm-up left it.
void Soak(const std::filesystem::path& repository, const std::filesystem::path& log, bool grpc) {
  const auto port = deploy::FreeLoopbackPort();
  const auto grpc_port = deploy::FreeLoopbackPort();
  deploy::ServerProcess server({FWBENCH_BINARY, "serve", repository.string(), "--port",
                                std::to_string(port), "--grpc-port", std::to_string(grpc_port)},
                               log);
  const loadgen::Url url{"127.0.0.1", std::to_string(port), "/"};
  for (int i = 0;
       i < 600 && loadgen::Fetch(url, {"GET", "/v2/health/ready", "", "", {}}).status != 200; ++i) {
    ASSERT_TRUE(server.Running()) << server.LogTail();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const auto inputs =
      loadgen::FetchInputs(loadgen::LoadProtocol::kKserveV2, url, "resnet18", "", 1);
  const loadgen::LoadRequest request = loadgen::BuildInferRequest(
      loadgen::LoadProtocol::kKserveV2, url, "resnet18", "", inputs, false, 5);
  const loadgen::GrpcLoadRequest grpc_request = loadgen::BuildGrpcInferRequest(
      "127.0.0.1:" + std::to_string(grpc_port), "resnet18", "", inputs, 5, "");
  loadgen::LoadOptions o;
  o.connections = 64;
  o.threads = 2;
  o.warmup_s = 0;
  o.duration_s = 600;
  o.timeout_s = 60;
  const auto run = [&] {
    return grpc ? loadgen::RunGrpcLoad(grpc_request, o) : loadgen::RunLoad(request, o);
  };
  o.max_requests = 2000;  // the allocators' warm-up
  auto records = run();
  const std::int64_t rss_warm = server.RssBytes();
  o.max_requests = 10'000;
  records = run();
  const std::int64_t rss_after = server.RssBytes();
  ASSERT_EQ(records.size(), 10'000u);
  std::map<std::string, int> errors;
  for (const auto& r : records) {
    if (!r.error.empty()) ++errors[r.error];
  }
  EXPECT_TRUE(errors.empty()) << errors.size() << " kinds, first: " << errors.begin()->first;
  std::cout << "soak (" << (grpc ? "gRPC" : "HTTP") << "): RSS " << rss_warm / 1048576
            << " MiB after 2,000 requests, " << rss_after / 1048576 << " MiB after 10,000 more\n";
  EXPECT_LT(rss_after - rss_warm, std::max<std::int64_t>(32 << 20, rss_warm / 10))
      << "memory grew under a steady load";
  EXPECT_EQ(server.Stop(30), 0) << server.LogTail();
  EXPECT_NE(server.LogTail().find("stopped (0 requests still in flight"), std::string::npos)
      << server.LogTail();
}

TEST_F(ServeE2E, SoakOfTenThousandRequestsAtConcurrency64HasNoErrorsAndFlatMemory) {
  ASSERT_EQ(deploy_->code, 0) << deploy_->text;
  Soak(RunFolder() / "repository", *out_ / "soak-serve.log", /*grpc=*/false);
}

TEST_F(ServeE2E, SoakOverGrpcOfTenThousandRequestsAtConcurrency64HasNoErrorsAndFlatMemory) {
  ASSERT_EQ(deploy_->code, 0) << deploy_->text;
  Soak(RunFolder() / "repository", *out_ / "soak-grpc-serve.log", /*grpc=*/true);
}

TEST(ServeCli, BadInputToServeLoadAndDeployIsAUsageErrorThatSaysWhatToDo) {
  const auto dir = FreshDir("serve_bad");
  auto r = RunFwbench("serve " + (dir / "nope").string());
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("is not a folder. Expected layout: REPO/NAME/config.toml"),
            std::string::npos)
      << r.text;

  std::filesystem::create_directories(dir / "repo" / "m" / "1");
  std::ofstream(dir / "repo" / "m" / "1" / "model.pt") << "not torchscript";
  std::ofstream(dir / "repo" / "m" / "config.toml") << "[[inputs]]\nname = \"x\"\n";
  r = RunFwbench("serve " + (dir / "repo").string());
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("config.toml: inputs[0].datatype must be"), std::string::npos) << r.text;

  std::ofstream(dir / "repo" / "m" / "config.toml")
      << "[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [-1, 4]\n"
         "[[outputs]]\nname = \"y\"\ndatatype = \"FP32\"\nshape = [-1, 2]\n";
  r = RunFwbench("serve " + (dir / "repo").string());
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("is not a TorchScript file LibTorch can load"), std::string::npos)
      << r.text;

  r = RunFwbench("load ftp://example.org/");
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("must start with http://"), std::string::npos) << r.text;
  r = RunFwbench("load http://127.0.0.1:" + std::to_string(deploy::FreeLoopbackPort()) + "/");
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("is the server running?"), std::string::npos) << r.text;
  r = RunFwbench("load http://127.0.0.1:1/ --protocol grpc");
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("expected raw (the URL as given), kserve, tfserving or torchserve"),
            std::string::npos)
      << r.text;
  r = RunFwbench("load http://127.0.0.1:1/ --input image:FP16:1x3");
  EXPECT_EQ(r.code, 2) << r.text;
  r = RunFwbench("load grpc://127.0.0.1:" + std::to_string(deploy::FreeLoopbackPort()) +
                 " --model m");
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("no gRPC answer from 127.0.0.1:"), std::string::npos) << r.text;
  r = RunFwbench("load grpc://127.0.0.1:1 --model m --protocol tfserving");
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("--grpc speaks KServe v2"), std::string::npos) << r.text;
  r = RunFwbench("load http://127.0.0.1:1 --grpc --model m --binary");
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("over gRPC tensors always go as raw bytes"), std::string::npos) << r.text;
  r = RunFwbench("load grpc://127.0.0.1:1");
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("--grpc needs --model NAME"), std::string::npos) << r.text;

  r = RunFwbench("deploy --into " + dir.string() + " --out " + dir.string());
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("no results.json there"), std::string::npos) << r.text;

  // A busy port: the first server holds it.
  const auto models = dir / "linear";
  if (const std::string why = WriteLinearRepository(models); !why.empty()) GTEST_SKIP() << why;
  const auto port = deploy::FreeLoopbackPort();
  const auto grpc_port = deploy::FreeLoopbackPort();
  deploy::ServerProcess first({FWBENCH_BINARY, "serve", models.string(), "--port",
                               std::to_string(port), "--grpc-port", std::to_string(grpc_port)},
                              dir / "first.log");
  ASSERT_TRUE(WaitReady(first, {"127.0.0.1", std::to_string(port), "/"})) << first.LogTail();
  r = RunFwbench("serve " + models.string() + " --port " + std::to_string(port));
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("another server holds the port"), std::string::npos) << r.text;
  // Its gRPC port too (gRPC would share it through SO_REUSEPORT unless told not to).
  r = RunFwbench("serve " + models.string() + " --port 0 --grpc-port " + std::to_string(grpc_port));
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("--grpc-port " + std::to_string(grpc_port) + ": cannot listen"),
            std::string::npos)
      << r.text;
}

// The same small model as TorchScript (LibTorch) and as ONNX (OpenVINO where fwbench was built
// with it, else OpenCV DNN; and OpenCV DNN asked for by onnx_runtime) in one repository: all
// served, all give the known answer, batched requests included.
TEST(ServeCli, ServesOnnxThroughOpenVinoAndOpenCvDnnNextToTorchScript) {
  const auto dir = FreshDir("serve_onnx");
  if (const std::string why = WriteLinearRepository(dir); !why.empty()) GTEST_SKIP() << why;
  std::filesystem::create_directories(dir / "oc" / "1");
  std::filesystem::copy_file(dir / "ox" / "1" / "model.onnx", dir / "oc" / "1" / "model.onnx");
  {
    std::stringstream config;
    config << std::ifstream(dir / "ox" / "config.toml").rdbuf();
    std::ofstream(dir / "oc" / "config.toml") << "onnx_runtime = \"opencv\"\n" << config.str();
  }
#ifdef FWBENCH_SERVES_ONNX_WITH_OPENVINO
  const std::string default_platform = "onnx_openvino";
#else
  const std::string default_platform = "onnx_opencv_dnn";
#endif
  const auto port = deploy::FreeLoopbackPort();
  deploy::ServerProcess server(
      {FWBENCH_BINARY, "serve", dir.string(), "--port", std::to_string(port)}, dir / "serve.log");
  const loadgen::Url url{"127.0.0.1", std::to_string(port), "/"};
  ASSERT_TRUE(WaitReady(server, url)) << server.LogTail();
  const std::string body =
      R"({"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[1,1,1,1,0,0,0,2]}]})";
  for (const char* model : {"ts", "ox", "oc"}) {
    const auto r = loadgen::Fetch(
        url, {"POST", std::string("/v2/models/") + model + "/infer", body, "application/json", {}});
    ASSERT_EQ(r.status, 200) << model << ": " << r.body << server.LogTail();
    const auto out = nlohmann::json::parse(r.body)["outputs"][0];
    EXPECT_EQ(out["shape"], nlohmann::json({2, 2})) << model;
    const std::vector<double> expected = {10.5, 0.0, 8.5, 1.0};
    for (std::size_t i = 0; i < expected.size(); ++i) {
      EXPECT_NEAR(out["data"][i].get<double>(), expected[i], 1e-5) << model << " [" << i << "]";
    }
  }
  const auto platform = [&](const std::string& model) {
    return nlohmann::json::parse(
        loadgen::Fetch(url, {"GET", "/v2/models/" + model, "", "", {}}).body)["platform"];
  };
  EXPECT_EQ(platform("ox"), default_platform);
  EXPECT_EQ(platform("oc"), "onnx_opencv_dnn");
  EXPECT_EQ(server.LogTail(20000).find("model.onnx runs on OpenVINO") != std::string::npos,
            default_platform == "onnx_openvino")
      << server.LogTail();
  // Concurrent requests to the ONNX model share batches and each gets its own rows back.
  loadgen::LoadOptions o;
  o.connections = 8;
  o.warmup_s = 0;
  o.duration_s = 60;
  o.max_requests = 400;
  const auto records =
      loadgen::RunLoad(loadgen::BuildInferRequest(loadgen::LoadProtocol::kKserveV2, url, "ox", "",
                                                  {{"x", "FP32", {1, 4}}}, false, 3),
                       o);
  ASSERT_EQ(records.size(), 400u);
  for (const auto& r : records) ASSERT_EQ(r.error, "");
  EXPECT_EQ(server.Stop(30), 0) << server.LogTail();
}

// A client nobody here wrote against fwbench serve (HTTP and gRPC ports): `script` run by
// `python` with `protocol` (tritonclient's "http" or "grpc", or "" for a gRPC-only script) and
// the port it needs; every check it prints must pass, and their count guards against a script
// that stopped early.
void RunClientConformance(const std::filesystem::path& python, const std::string& script_name,
                          const std::string& protocol, int expected_checks,
                          const std::string& expected_protocol_label) {
  const auto dir = FreshDir("serve_client_" + script_name.substr(0, script_name.find('.')) +
                            (protocol.empty() ? "" : "_" + protocol));
  if (const std::string why = WriteLinearRepository(dir); !why.empty()) GTEST_SKIP() << why;
  const auto port = deploy::FreeLoopbackPort();
  const auto grpc_port = deploy::FreeLoopbackPort();
  deploy::ServerProcess server({FWBENCH_BINARY, "serve", dir.string(), "--port",
                                std::to_string(port), "--grpc-port", std::to_string(grpc_port)},
                               dir / "serve.log");
  const loadgen::Url url{"127.0.0.1", std::to_string(port), "/"};
  ASSERT_TRUE(WaitReady(server, url)) << server.LogTail();
  const auto script = std::filesystem::path(FWBENCH_SOURCE_DIR) / "tests/clients" / script_name;
  const std::string cmd =
      python.string() + " " + script.string() + " " + protocol + (protocol.empty() ? "" : " ") +
      "127.0.0.1:" + std::to_string(protocol == "http" ? port : grpc_port) + " > " +
      (dir / "client.json").string() + " 2> " + (dir / "client.log").string();
  const int code = std::system(cmd.c_str());
  std::stringstream out;
  std::stringstream log;
  out << std::ifstream(dir / "client.json").rdbuf();
  log << std::ifstream(dir / "client.log").rdbuf();
  const auto report = nlohmann::json::parse(out.str(), nullptr, false);
  ASSERT_TRUE(report.is_object() && report.contains("checks")) << out.str() << log.str();
  int passed = 0;
  for (const auto& c : report["checks"]) {
    EXPECT_TRUE(c["ok"].get<bool>()) << c["name"] << ": " << c["detail"];
    passed += c["ok"].get<bool>() ? 1 : 0;
  }
  EXPECT_EQ(passed, expected_checks) << out.str();
  EXPECT_EQ(code, 0) << out.str() << log.str();
  // The server counted the calls under their protocol.
  const auto metrics = loadgen::Fetch(url, {"GET", "/metrics", "", "", {}});
  EXPECT_NE(metrics.body.find("protocol=\"" + expected_protocol_label + "\""), std::string::npos)
      << metrics.body;
  EXPECT_EQ(server.Stop(30), 0) << server.LogTail();
}

// NVIDIA Triton's tritonclient (.venvs/clients, installed by scripts/install-deps.sh --test).
void RunTritonclientConformance(const std::string& protocol, int expected_checks) {
  const auto python = std::filesystem::path(FWBENCH_SOURCE_DIR) / ".venvs/clients/bin/python";
  if (!std::filesystem::exists(python)) {
    GTEST_SKIP() << python << " is missing: scripts/install-deps.sh --test creates it";
  }
  RunClientConformance(python, "tritonclient_conformance.py", protocol, expected_checks,
                       protocol == "http" ? "kserve_v2" : "kserve_v2_grpc");
}

TEST(ServeClients, TritonclientOverHttpGetsHealthMetadataJsonAndBinaryInferenceAndErrors) {
  RunTritonclientConformance("http", 19);
}

TEST(ServeClients, TritonclientOverGrpcGetsHealthMetadataRawAndTypedInferenceAndErrors) {
  RunTritonclientConformance("grpc", 15);
}

// TF Serving's own client stubs (tensorflow-serving-api in .venvs/tf, install-deps --test)
// against fwbench serve's PredictionService.Predict.
TEST(ServeClients, TfServingApiStubsPredictWithTensorContentAndFloatValAndGetErrors) {
  const auto venv = std::filesystem::path(FWBENCH_SOURCE_DIR) / ".venvs/tf";
  if (!std::filesystem::exists(venv / ".fwbench-tf-serving-api")) {
    GTEST_SKIP() << "tensorflow-serving-api is not in " << venv
                 << ": scripts/install-deps.sh --test installs it";
  }
  RunClientConformance(venv / "bin/python", "tf_serving_api_conformance.py", "", 8,
                       "tf_serving_grpc");
}

TEST(ServeCli, EveryNewCommandHasHelp) {
  for (const char* command : {"serve", "load", "deploy"}) {
    const auto r = RunFwbench(std::string(command) + " --help");
    EXPECT_EQ(r.code, 0) << command;
    EXPECT_NE(r.text.find("Usage"), std::string::npos) << r.text;
  }
}

}  // namespace
}  // namespace fwbench
