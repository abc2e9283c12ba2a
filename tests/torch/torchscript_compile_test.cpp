#include "backends/trial/torchscript_compile.h"

#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "models/resnet.h"
#include "workloads/image_classification.h"

namespace fwbench {
namespace {

models::ResNet SmallResNet(std::uint64_t seed) {
  torch::manual_seed(seed);
  return models::MakeResNet({"resnet18", "imagenet", 10});
}

Forward EagerForward(models::ResNet& m) {
  return [&m](const torch::Tensor& x) { return m->forward(x); };
}

TEST(TorchScriptCompileTest, TracedInferenceMatchesEagerAndSharesTensors) {
  torch::set_num_threads(1);
  models::ResNet model = SmallResNet(1);
  model->eval();
  const torch::Tensor x = torch::randn({2, 3, 32, 32});
  const torch::Tensor check = torch::randn({3, 3, 32, 32});
  torch::jit::Module traced = TraceModule(*model, EagerForward(model), x, {.check_input = check});
  EXPECT_FALSE(traced.is_training());
  torch::NoGradGuard no_grad;
  const torch::Tensor eager = model->forward(check);
  const torch::Tensor compiled = traced.forward({check}).toTensor();
  EXPECT_TRUE(torch::allclose(eager, compiled, 1e-5, 1e-5));
  // The traced module holds the model's own tensors, not copies.
  EXPECT_EQ(traced.attr("fc").toModule().attr("weight").toTensor().data_ptr(),
            model->fc->weight.data_ptr());
  std::size_t params = 0;
  for (const auto& p : traced.named_parameters()) {
    (void)p;
    ++params;
  }
  EXPECT_EQ(params, model->parameters().size());

  torch::jit::Module optimized = OptimizeForInference(traced);
  const torch::Tensor fast = optimized.forward({check}).toTensor();
  EXPECT_LE((fast - eager).abs().max().item<double>(), 1e-4);
}

TEST(TorchScriptCompileTest, TracedTrainingFollowsEagerAndLeavesBuffersAlone) {
  torch::set_num_threads(1);
  models::ResNet eager_model = SmallResNet(2);
  models::ResNet compiled_model = SmallResNet(2);
  eager_model->train();
  compiled_model->train();
  const torch::Tensor example = torch::randn({4, 3, 32, 32});
  torch::jit::Module traced = TraceModule(*compiled_model, EagerForward(compiled_model), example,
                                          {.check_input = torch::randn({4, 3, 32, 32})});
  EXPECT_TRUE(traced.is_training());
  // Tracing and checking ran forwards in training mode; the running statistics are restored.
  EXPECT_EQ(compiled_model->bn1->num_batches_tracked.item<std::int64_t>(), 0);
  EXPECT_TRUE(torch::equal(compiled_model->bn1->running_mean, eager_model->bn1->running_mean));

  // Gradients through the traced graph match eager autograd, also from the third call on, when
  // the profiling executor has replaced the graph with its optimised, differentiable version.
  // (Losses over several SGD steps would not make a good test: training on random labels is
  // chaotic and amplifies 1e-6 differences to 1e-2 within a few steps.)
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({4, 3, 32, 32});
  const torch::Tensor y = torch::randint(0, 10, {4}, torch::kLong);
  for (int call = 0; call < 4; ++call) {
    eager_model->zero_grad();
    compiled_model->zero_grad();
    const torch::Tensor a = torch::nn::functional::cross_entropy(eager_model->forward(x), y);
    const torch::Tensor b = torch::nn::functional::cross_entropy(traced.forward({x}).toTensor(), y);
    a.backward();
    b.backward();
    EXPECT_NEAR(a.item<double>(), b.item<double>(), 1e-5) << "call " << call;
    const auto pe = eager_model->parameters();
    const auto pc = compiled_model->parameters();
    ASSERT_EQ(pe.size(), pc.size());
    for (std::size_t i = 0; i < pe.size(); ++i) {
      const double scale = pe[i].grad().abs().max().item<double>() + 1e-12;
      EXPECT_LE((pe[i].grad() - pc[i].grad()).abs().max().item<double>() / scale, 1e-4)
          << "call " << call << " parameter " << i;
    }
  }
  // The graph updated the shared buffers (BatchNorm running statistics) on every call.
  EXPECT_EQ(compiled_model->bn1->num_batches_tracked.item<std::int64_t>(), 4);
  EXPECT_TRUE(torch::allclose(eager_model->bn1->running_mean, compiled_model->bn1->running_mean,
                              1e-5, 1e-6));
  // And an optimiser stepping the model's parameters moves the traced module's weights.
  OptimizerSpec spec;
  torch::optim::SGD sgd = MakeOptimizer(*compiled_model, spec);
  const torch::Tensor before = traced.attr("fc").toModule().attr("weight").toTensor().clone();
  TrainStep([&traced](const torch::Tensor& in) { return traced.forward({in}).toTensor(); }, sgd, x,
            y);
  EXPECT_FALSE(torch::equal(before, traced.attr("fc").toModule().attr("weight").toTensor()));
}

// Control flow that depends on the data: the trace freezes one branch.
struct BranchyImpl : torch::nn::Module {
  BranchyImpl() { linear = register_module("linear", torch::nn::Linear(4, 2)); }
  torch::Tensor forward(const torch::Tensor& x) {
    if (x.sum().item<double>() > 0) return linear->forward(x);
    return -linear->forward(x);
  }
  torch::nn::Linear linear{nullptr};
};
TORCH_MODULE(Branchy);

TEST(TorchScriptCompileTest, DataDependentControlFlowIsRefusedWithTheReason) {
  Branchy model;
  const torch::Tensor positive = torch::ones({2, 4});
  const torch::Tensor negative = -torch::ones({2, 4});
  try {
    TraceModule(*model, [&](const torch::Tensor& x) { return model->forward(x); }, positive,
                {.check_input = negative});
    FAIL() << "no error";
  } catch (const TraceError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("data-dependent control flow"), std::string::npos) << what;
  }
  // A module without branches traces fine with the same inputs.
  torch::nn::Linear plain(4, 2);
  EXPECT_NO_THROW(TraceModule(*plain, [&](const torch::Tensor& x) { return plain->forward(x); },
                              positive, {.check_input = negative}));
}

TEST(TorchScriptCompileTest, SavedModuleLoadsBackInCpp) {
  models::ResNet model = SmallResNet(4);
  model->eval();
  const torch::Tensor x = torch::randn({1, 3, 32, 32});
  torch::jit::Module traced = TraceModule(*model, EagerForward(model), x, {});
  const auto path = std::filesystem::temp_directory_path() / "fwbench_ts_test.pt";
  SaveTorchScript(traced, path);
  torch::jit::Module loaded = torch::jit::load(path.string());
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(loaded.forward({x}).toTensor(), model->forward(x), 1e-5, 1e-5));
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace fwbench
