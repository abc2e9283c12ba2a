#include "backends/inference/torchscript_inference.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "backends/trial/torchscript_compile.h"
#include "core/error.h"
#include "models/resnet.h"

namespace fwbench {
namespace {

// The server's path (a file) and the trial's (a traced module) run the same optimised module.
TEST(TorchScriptInference, AFileRunsFrozenAndOptimisedAsTheTrialsTracedModuleDoes) {
  torch::set_num_threads(1);
  torch::manual_seed(3);
  models::ResNet model = models::MakeResNet({"resnet18", "cifar", 10});
  model->eval();
  const torch::Tensor x = torch::randn({2, 3, 32, 32});
  torch::jit::Module traced =
      TraceModule(*model, [&](const torch::Tensor& t) { return model->forward(t); }, x,
                  {.check_input = torch::randn({2, 3, 32, 32})});
  const auto file = std::filesystem::temp_directory_path() / "fwbench_inference_test.pt";
  SaveTorchScript(traced, file);

  TorchScriptInference from_file = TorchScriptInference::Load(file, torch::kCPU);
  TorchScriptInference from_trace = TorchScriptInference::FromTraced(traced);
  std::filesystem::remove(file);
  EXPECT_EQ(from_file.executor(), "freeze + optimize_for_inference");
  EXPECT_EQ(from_trace.executor(), from_file.executor());
  torch::Tensor eager;
  {
    torch::NoGradGuard no_grad;
    eager = model->forward(x);
  }
  const auto a = from_file.Run({x});
  const auto b = from_trace.Run({x});
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_LE((a[0] - eager).abs().max().item<double>(), 1e-4);
  EXPECT_TRUE(torch::equal(a[0], b[0]));
}

TEST(TorchScriptInference, AFileThatIsNotTorchScriptIsAUsageErrorNamingIt) {
  const auto file = std::filesystem::temp_directory_path() / "fwbench_not_torchscript.pt";
  std::ofstream(file) << "not a zip archive";
  try {
    (void)TorchScriptInference::Load(file, torch::kCPU);
    ADD_FAILURE() << "loaded a text file";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
  }
  std::filesystem::remove(file);
}

// A thread that did not set the pool (the server's compute thread) takes the process's.
TEST(TorchScriptInference, AnotherThreadTakesTheProcesssComputePool) {
  auto* omp_max = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
  if (omp_max == nullptr) GTEST_SKIP() << "this LibTorch has no OpenMP runtime loaded";
  // A count no new thread starts with, so the test fails if the pool is not applied.
  int fresh = -1;
  std::thread([&] { fresh = omp_max(); }).join();
  const int before = at::get_num_threads();
  const int wanted = fresh + 1;
  at::set_num_threads(wanted);
  int read = -1;
  std::thread([&] {
    UseProcessComputePool();
    read = omp_max();
  }).join();
  at::set_num_threads(before);
  EXPECT_EQ(read, wanted) << "a new thread starts with " << fresh;
}

}  // namespace
}  // namespace fwbench
