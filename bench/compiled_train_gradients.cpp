// Where does libtorch/compiled training first compute something different from eager?
// docs/parity.md, "Compiled training on an AMD EPYC". Two copies of the same C++ ResNet from the
// same weights: A eager, B traced exactly as the compiled trial traces it (TraceModule, profiling
// executor). Every step both see the same batch from the same weights — B's parameters are set
// to A's before the step ("teacher forcing") — so the figures are the difference one step makes,
// not a difference amplified by earlier steps. Per step: the loss, the logits, and each
// parameter's gradient (the layer it belongs to names the op), largest relative difference
// first. --free lets B train on its own instead, which shows the amplification.
//
//   build/bench/compiled_train_gradients --weights results/cache/<…>.safetensors
//       --data results/cache/<…>/cifar-10-batches-bin --stem imagenet --steps 8
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/torch.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "backends/trial/torchscript_compile.h"
#include "data/cifar10.h"
#include "data/image_batcher.h"
#include "models/resnet.h"
#include "models/weights.h"
#include "workloads/image_classification.h"

namespace {

struct Options {
  std::string weights;
  std::string data;
  std::string arch = "resnet18";
  std::string stem = "cifar";
  std::int64_t batch = 16;
  int steps = 8;
  int threads = 0;
  double lr = 0.05;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  std::uint64_t seed = 1;
  bool free = false;
  bool print_graph = false;
  std::string executor = "profiling";
  int top = 5;
};

Options Parse(int argc, char** argv, CLI::App& app) {
  Options o;
  app.add_option("--weights", o.weights, "Initial weights (.safetensors) of the plan's model")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--data", o.data, "CIFAR-10 binary folder (cifar-10-batches-bin)")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--arch", o.arch, "ResNet architecture")->capture_default_str();
  app.add_option("--stem", o.stem, "cifar or imagenet")
      ->check(CLI::IsMember({"cifar", "imagenet"}))
      ->capture_default_str();
  app.add_option("--batch", o.batch, "Batch size")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--steps", o.steps, "Training steps")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--threads", o.threads, "Compute threads (0 = LibTorch's default)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--lr", o.lr, "SGD learning rate")->capture_default_str();
  app.add_option("--momentum", o.momentum, "SGD momentum")->capture_default_str();
  app.add_option("--weight-decay", o.weight_decay, "SGD weight decay")->capture_default_str();
  app.add_option("--seed", o.seed, "Batch order seed")->capture_default_str();
  app.add_option("--top", o.top, "Parameters listed per step, largest relative difference first")
      ->capture_default_str();
  app.add_flag("--free", o.free, "Let the compiled copy train on its own (no teacher forcing)");
  app.add_option("--executor", o.executor,
                 "profiling: as the compiled trial runs; legacy: the legacy graph executor; "
                 "unoptimized: profiling executor with graph optimisation off")
      ->check(CLI::IsMember({"profiling", "legacy", "unoptimized"}))
      ->capture_default_str();
  app.add_flag("--print-graph", o.print_graph, "Print the last optimised training graph");
  app.parse(argc, argv);
  return o;
}

double MaxAbs(const torch::Tensor& t) { return t.abs().max().item<double>(); }

struct GradDiff {
  std::string name;
  double max_abs_diff;
  double max_abs;
  bool bit_identical;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Eager vs compiled (traced) LibTorch training, gradient by gradient"};
  Options o;
  try {
    o = Parse(argc, argv, app);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (o.threads > 0) torch::set_num_threads(o.threads);
  const fwbench::models::ResNetOptions model_options{
      .arch = o.arch, .stem = o.stem, .num_classes = 10};
  fwbench::models::ResNet a = fwbench::models::MakeResNet(model_options);
  fwbench::models::ResNet b = fwbench::models::MakeResNet(model_options);
  fwbench::models::LoadStateDict(*a, o.weights);
  fwbench::models::LoadStateDict(*b, o.weights);
  a->train();
  b->train();

  const fwbench::data::ImageSet set =
      fwbench::data::ReadCifar10Dir(o.data, fwbench::data::Split::kTrain);
  const fwbench::data::ImageBatcher batcher(set, {.batch_size = static_cast<std::size_t>(o.batch),
                                                  .augment = true,
                                                  .shuffle = true,
                                                  .seed = o.seed});
  torch::Tensor images = torch::empty({o.batch, 3, 32, 32});
  torch::Tensor labels = torch::empty({o.batch}, torch::kInt64);
  const auto fill = [&](std::size_t step) {
    batcher.Fill(step, {images.data_ptr<float>(), static_cast<std::size_t>(images.numel())},
                 {labels.data_ptr<std::int64_t>(), static_cast<std::size_t>(o.batch)});
    return std::pair{images.clone(), labels.clone()};
  };

  // Traced as the compiled trial traces it: example = batch 0, check = batch 1.
  fwbench::TraceOptions trace;
  trace.check_input = fill(1).first;
  torch::jit::Module traced = fwbench::TraceModule(
      *b, [&](const torch::Tensor& x) { return b->forward(x); }, fill(0).first, trace);
  std::string executor = fwbench::ConfigureTrainingExecutor(torch::kCPU);
  if (o.executor == "legacy") {
    torch::jit::getProfilingMode() = false;
    executor = "legacy executor";
  } else if (o.executor == "unoptimized") {
    torch::jit::setGraphExecutorOptimize(false);
    executor += "; graph optimisation off";
  }
  std::cout << "executor: " << executor << "\n"
            << "threads: " << torch::get_num_threads() << ", "
            << (o.free ? "free" : "teacher-forced") << ", lr " << o.lr << " momentum " << o.momentum
            << " weight decay " << o.weight_decay << "\n";

  const fwbench::OptimizerSpec spec{
      .name = "sgd", .lr = o.lr, .momentum = o.momentum, .weight_decay = o.weight_decay};
  torch::optim::SGD opt_a = fwbench::MakeOptimizer(*a, spec);
  torch::optim::SGD opt_b = fwbench::MakeOptimizer(*b, spec);
  const auto params_a = a->named_parameters();
  const auto params_b = b->named_parameters();
  const auto buffers_a = a->buffers();
  const auto buffers_b = b->buffers();

  for (int step = 0; step < o.steps; ++step) {
    if (!o.free) {
      // Teacher forcing: B starts the step from exactly A's state.
      torch::NoGradGuard no_grad;
      for (std::size_t i = 0; i < params_a.size(); ++i) {
        params_b[i].value().copy_(params_a[i].value());
      }
      for (std::size_t i = 0; i < buffers_a.size(); ++i) buffers_b[i].copy_(buffers_a[i]);
    }
    auto [x, y] = fill(static_cast<std::size_t>(step));
    opt_a.zero_grad();
    opt_b.zero_grad();
    const torch::Tensor logits_a = a->forward(x);
    const torch::Tensor logits_b = traced.forward({x}).toTensor();
    const torch::Tensor loss_a = torch::nn::functional::cross_entropy(logits_a, y);
    const torch::Tensor loss_b = torch::nn::functional::cross_entropy(logits_b, y);
    loss_a.backward();
    loss_b.backward();

    std::vector<GradDiff> diffs;
    for (std::size_t i = 0; i < params_a.size(); ++i) {
      const torch::Tensor ga = params_a[i].value().grad();
      const torch::Tensor gb = params_b[i].value().grad();
      diffs.push_back({params_a[i].key(), MaxAbs(ga - gb), MaxAbs(ga), torch::equal(ga, gb)});
    }
    const auto differing = std::count_if(diffs.begin(), diffs.end(),
                                         [](const GradDiff& d) { return !d.bit_identical; });
    const auto first = std::find_if(diffs.begin(), diffs.end(),
                                    [](const GradDiff& d) { return !d.bit_identical; });
    std::cout << fmt::format(
        "step {}: loss eager {:.9g} compiled {:.9g} |Δ| {:.3g}; logits max |Δ| {:.3g}; gradients "
        "differing: {} of {} parameters{}\n",
        step, loss_a.item<double>(), loss_b.item<double>(),
        std::abs(loss_a.item<double>() - loss_b.item<double>()), MaxAbs(logits_a - logits_b),
        differing, diffs.size(),
        first == diffs.end() ? "" : fmt::format(" (first in forward order: {})", first->name));
    std::sort(diffs.begin(), diffs.end(), [](const GradDiff& l, const GradDiff& r) {
      return l.max_abs_diff / std::max(l.max_abs, 1e-30) >
             r.max_abs_diff / std::max(r.max_abs, 1e-30);
    });
    for (int k = 0; k < o.top && k < static_cast<int>(diffs.size()); ++k) {
      const GradDiff& d = diffs[static_cast<std::size_t>(k)];
      if (d.bit_identical) break;
      std::cout << fmt::format(
          "    {:<28} max |Δgrad| {:.3g} of max |grad| {:.3g} ({:.2g} relative)\n", d.name,
          d.max_abs_diff, d.max_abs, d.max_abs_diff / d.max_abs);
    }
    opt_a.step();
    opt_b.step();
  }
  if (o.print_graph) {
    if (const auto graph = torch::jit::lastExecutedOptimizedGraph()) std::cout << *graph << "\n";
  }
  return 0;
}
