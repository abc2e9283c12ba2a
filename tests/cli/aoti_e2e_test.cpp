// libtorch/aoti end to end: the AOTInductor package made in the trial's compile phase (torch.export
// + AOTInductor in the PyTorch environment), run from C++ next to LibTorch eager and TorchScript,
// parity-gated, and then served by `fwbench serve` beside the TorchScript file of the same run.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "deploy/endpoint_measure.h"
#include "deploy/server_process.h"
#include "loadgen/load_runner.h"
#include "loadgen/protocol_request.h"
#include "run_fwbench.h"
#include "worker_catalogue.h"

namespace fwbench {
namespace {

using fwbench::testing::FreshDir;
using fwbench::testing::Output;
using fwbench::testing::RunDir;
using fwbench::testing::RunFwbench;

// Why libtorch/aoti cannot run here, or "" when it can. Fails the test where install-deps made
// .venvs/torch and the PyTorch worker still does not run.
std::string AotiUnavailable() {
  const nlohmann::json env = fwbench::testing::Doctor();
  const std::string libtorch = env.contains("libtorch") ? env["libtorch"].value("version", "") : "";
  if (libtorch.rfind("1.", 0) == 0) {
    return "this fwbench is built against LibTorch " + libtorch + ", before AOTInductor";
  }
  std::string skip;
  fwbench::testing::WorkerEntry(env, "pytorch", "eager", skip);
  return skip.empty() ? "" : "the PyTorch worker cannot run here: " + skip;
}

TEST(AotiE2E, PackageRunsNextToEagerPassesParityAndIsServedLikeTorchScript) {
  const std::string why = AotiUnavailable();
  if (HasFailure()) return;
  if (!why.empty()) GTEST_SKIP() << why;
  const auto out = FreshDir("aoti");
  const Output r = RunFwbench(
      "run --quick --stem cifar --trials 1 --tasks infer --batch-sizes 4 --backends "
      "libtorch,libtorch/compiled,libtorch/aoti --out " +
      out.string());
  ASSERT_EQ(r.code, 0) << r.text;
  const std::filesystem::path run = RunDir(out);
  const auto results = nlohmann::json::parse(std::ifstream(run / "results.json"));
  const nlohmann::json* aoti = nullptr;
  for (const auto& c : results["configurations"]) {
    if (c["config"] == "libtorch/aoti/infer/b4") aoti = &c;
  }
  ASSERT_NE(aoti, nullptr) << r.text;
  EXPECT_EQ((*aoti)["trials_ok"], 1) << r.text;
  // Same function as LibTorch eager, so ranked; its compile step counted like any other.
  EXPECT_EQ((*aoti)["parity"]["status"], "pass") << (*aoti)["parity"].dump();
  EXPECT_LE((*aoti)["parity"]["logits"]["max_abs"].get<double>(), 1e-4);
  EXPECT_TRUE((*aoti)["ranked"].get<bool>());
  ASSERT_TRUE((*aoti)["metrics"].contains("phase.compile_s")) << (*aoti)["metrics"].dump();
  EXPECT_GT((*aoti)["metrics"]["phase.compile_s"]["median"].get<double>(), 1.0)
      << "torch.export + AOTInductor + the C++ compiler in under a second?";
  EXPECT_EQ((*aoti)["compile"]["eager_config"], "libtorch/eager/infer/b4");
  // The trial kept its package (the run's first trial of the configuration) and said how it
  // was made.
  std::filesystem::path package, torchscript;
  for (const auto& e : std::filesystem::directory_iterator(run / "trials")) {
    if (std::filesystem::exists(e.path() / "model.pt2")) package = e.path() / "model.pt2";
    if (std::filesystem::exists(e.path() / "model.torchscript.pt")) {
      torchscript = e.path() / "model.torchscript.pt";
    }
  }
  ASSERT_FALSE(package.empty()) << "no model.pt2 under " << run;
  ASSERT_FALSE(torchscript.empty()) << "no model.torchscript.pt under " << run;
  std::ifstream stderr_log(package.parent_path() / "stderr.log");
  const std::string log((std::istreambuf_iterator<char>(stderr_log)),
                        std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("compiled with torch.export + AOTInductor"), std::string::npos) << log;

  // Served: the package and the TorchScript file of the same weights answer alike.
  const auto repo = out / "repo";
  const std::string signature =
      "[[inputs]]\nname = \"image\"\ndatatype = \"FP32\"\nshape = [-1, 3, 32, 32]\n"
      "[[outputs]]\nname = \"logits\"\ndatatype = \"FP32\"\nshape = [-1, 10]\n"
      "[batching]\nmax_batch_size = 8\nmax_queue_delay_us = 2000\n";
  std::filesystem::create_directories(repo / "pt2" / "1");
  std::filesystem::create_directories(repo / "ts" / "1");
  std::ofstream(repo / "pt2" / "config.toml") << "platform = \"aoti\"\n" << signature;
  std::ofstream(repo / "ts" / "config.toml") << signature;
  std::filesystem::copy_file(package, repo / "pt2" / "1" / "model.pt2");
  std::filesystem::copy_file(torchscript, repo / "ts" / "1" / "model.pt");
  const auto port = deploy::FreeLoopbackPort();
  deploy::ServerProcess server(
      {FWBENCH_BINARY, "serve", repo.string(), "--port", std::to_string(port)}, out / "serve.log");
  const loadgen::Url url{"127.0.0.1", std::to_string(port), "/"};
  ASSERT_EQ(deploy::WaitUntilReady(server, url, 60.0), deploy::Readiness::kReady)
      << server.LogTail();
  // Three images of a fixed pattern in one request (batch 3: not the exported example's 2).
  std::vector<float> pixels(3 * 3 * 32 * 32);
  for (std::size_t i = 0; i < pixels.size(); ++i) {
    pixels[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)));
  }
  const std::string body = nlohmann::json{
      {"inputs",
       {{{"name", "image"},
         {"shape", {3, 3, 32, 32}},
         {"datatype", "FP32"},
         {"data", pixels}}}}}.dump();
  std::vector<nlohmann::json> answers;
  for (const char* model : {"pt2", "ts"}) {
    const auto a = loadgen::Fetch(
        url, {"POST", std::string("/v2/models/") + model + "/infer", body, "application/json", {}});
    ASSERT_EQ(a.status, 200) << model << ": " << a.body << server.LogTail();
    answers.push_back(nlohmann::json::parse(a.body)["outputs"][0]);
    EXPECT_EQ(answers.back()["shape"], nlohmann::json({3, 10})) << model;
  }
  double worst = 0.0;
  for (std::size_t i = 0; i < 30; ++i) {
    worst = std::max(
        worst, std::abs(answers[0]["data"][i].get<double>() - answers[1]["data"][i].get<double>()));
  }
  EXPECT_LE(worst, 1e-4) << answers[0].dump() << "\n" << answers[1].dump();
  const auto meta =
      nlohmann::json::parse(loadgen::Fetch(url, {"GET", "/v2/models/pt2", "", "", {}}).body);
  EXPECT_EQ(meta["platform"], "pytorch_aotinductor");
  // Concurrent single-image requests share batches of the package's dynamic batch dimension.
  loadgen::LoadOptions o;
  o.connections = 4;
  o.warmup_s = 0;
  o.duration_s = 60;
  o.max_requests = 64;
  const auto records =
      loadgen::RunLoad(loadgen::BuildInferRequest(loadgen::LoadProtocol::kKserveV2, url, "pt2", "",
                                                  {{"image", "FP32", {1, 3, 32, 32}}}, false, 3),
                       o);
  ASSERT_EQ(records.size(), 64u);
  for (const auto& rec : records) ASSERT_EQ(rec.error, "");
  EXPECT_EQ(server.Stop(30), 0) << server.LogTail();
}

TEST(AotiE2E, ExportWritesAPackageCheckedAgainstEager) {
  const std::string why = AotiUnavailable();
  if (HasFailure()) return;
  if (!why.empty()) GTEST_SKIP() << why;
  const auto out = FreshDir("aoti_export");
  const Output r = RunFwbench("export --to aoti --quick --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_TRUE(std::filesystem::exists(out / "model-resnet18-imagenet.pt2")) << r.text;
  EXPECT_NE(r.text.find("libtorch (C++)  yes    pass: max |Δ|"), std::string::npos) << r.text;
}

TEST(AotiE2E, TrainingAndBf16AreRefusedBeforeAnyTrialNamingWhatRuns) {
  Output r = RunFwbench(
      "run --quick --tasks train --backends libtorch/aoti --out /tmp/fwbench_aoti_refused");
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("libtorch/aoti runs inference only"), std::string::npos) << r.text;
  r = RunFwbench(
      "run --quick --tasks infer --precisions bf16 --backends libtorch/aoti --out "
      "/tmp/fwbench_aoti_refused");
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_NE(r.text.find("libtorch/aoti runs fp32 contiguous only"), std::string::npos) << r.text;
}

}  // namespace
}  // namespace fwbench
