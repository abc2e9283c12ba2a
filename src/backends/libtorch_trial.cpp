#include "backends/libtorch_trial.h"

#include <sys/resource.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include <numeric>

#include "backends/libtorch_info.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/protocol.h"
#include "data/cifar10.h"
#include "data/image_batcher.h"
#include "data/safetensors.h"
#include "models/resnet.h"
#include "models/weights.h"
#include "workloads/image_classification.h"

namespace fwbench {

namespace {

// Times a phase and reports it as a protocol event.
template <typename F>
auto TimedPhase(protocol::EventWriter& events, const char* name, F&& body) {
  const std::int64_t t0 = MonotonicNs();
  if constexpr (std::is_void_v<decltype(body())>) {
    body();
    events.WritePhase(name, t0, MonotonicNs());
  } else {
    auto result = body();
    events.WritePhase(name, t0, MonotonicNs());
    return result;
  }
}

torch::Device ResolveDevice(const std::string& device) {
  if (device == "cpu") return torch::kCPU;
  if (device == "cuda") {
    if (!torch::cuda::is_available()) {
      throw UsageError(
          "device 'cuda' requested, but this LibTorch has no usable CUDA device (Debian's "
          "libtorch is CPU-only): use --device cpu, or build fwbench against a CUDA LibTorch "
          "with -DTorch_DIR=... (see README)");
    }
    return torch::kCUDA;
  }
  throw UsageError(fmt::format("device '{}' is unknown (expected cpu or cuda)", device));
}

void Synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

std::int64_t PeakRssBytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;
}

void WriteLogits(const torch::Tensor& logits, const std::filesystem::path& path) {
  const torch::Tensor cpu = logits.to(torch::kCPU, torch::kFloat32).contiguous();
  const auto* bytes = reinterpret_cast<const std::byte*>(cpu.data_ptr<float>());
  safetensors::Write(path, {{"logits", safetensors::DType::kF32,
                             std::vector<std::int64_t>(cpu.sizes().begin(), cpu.sizes().end()),
                             std::span<const std::byte>(bytes, cpu.numel() * sizeof(float))}});
}

bool BudgetLeft(const TrialBudget& budget, std::int64_t steps, double elapsed_s) {
  if (budget.max_steps > 0 && steps >= budget.max_steps) return false;
  if (elapsed_s >= budget.max_seconds) return false;
  return steps < budget.min_steps || elapsed_s < budget.min_seconds;
}

int Run(const TrialSpec& spec, std::int64_t t_main_ns, protocol::EventWriter& events) {
  protocol::Hello hello;
  hello.t_main_ns = t_main_ns;
  hello.framework = "libtorch";
  hello.framework_version = LibtorchVersion();
  hello.backend = spec.backend;
  hello.mode = spec.mode;
  hello.device = spec.device;
  hello.threads = spec.threads;
  events.WriteHello(hello);

  const torch::Device device = TimedPhase(events, "init", [&] {
    torch::set_num_threads(spec.threads);
    torch::manual_seed(spec.seed);
    return ResolveDevice(spec.device);
  });

  models::ResNet model = TimedPhase(events, "build", [&] {
    models::ResNet m =
        models::MakeResNet({.arch = spec.arch, .stem = spec.stem, .num_classes = spec.num_classes});
    m->to(device);
    return m;
  });
  TimedPhase(events, "load_weights", [&] { models::LoadStateDict(*model, spec.weights); });

  const bool train = spec.task == "train";
  const auto batch = static_cast<std::size_t>(spec.batch_size);
  data::ImageSet dataset;
  std::unique_ptr<data::ImageBatcher> batcher;
  TimedPhase(events, "data", [&] {
    dataset = data::ReadCifar10Dir(spec.data_dir, train ? data::Split::kTrain : data::Split::kTest);
    if (dataset.size() < batch) {
      throw UsageError(fmt::format("{}: {} images, fewer than one batch of {}",
                                   spec.data_dir.string(), dataset.size(), batch));
    }
    batcher =
        std::make_unique<data::ImageBatcher>(dataset, data::BatchOptions{.batch_size = batch,
                                                                         .augment = spec.augment,
                                                                         .shuffle = spec.shuffle,
                                                                         .seed = spec.seed});
  });

  torch::Tensor images = torch::empty({spec.batch_size, 3, 32, 32}, torch::kFloat32);
  torch::Tensor labels = torch::empty({spec.batch_size}, torch::kInt64);
  const auto fill = [&](std::int64_t step) {
    batcher->Fill(
        static_cast<std::size_t>(step),
        std::span<float>(images.data_ptr<float>(), static_cast<std::size_t>(images.numel())),
        std::span<std::int64_t>(labels.data_ptr<std::int64_t>(), batch));
    return std::pair{images.to(device), labels.to(device)};
  };

  std::optional<torch::optim::SGD> optimizer;
  if (train) {
    model->train();
    optimizer.emplace(MakeOptimizer(*model, spec.optimizer));
  } else {
    model->eval();
  }

  std::int64_t steps = 0;
  std::int64_t first_t0 = 0;
  for (;;) {
    const double elapsed_s =
        steps == 0 ? 0.0 : static_cast<double>(MonotonicNs() - first_t0) * 1e-9;
    if (!BudgetLeft(spec.budget, steps, elapsed_s)) break;
    // Batch preparation stays outside the timed region: it is the same for every backend.
    auto [x, y] = fill(steps);
    Synchronize(device);
    const std::int64_t t0 = MonotonicNs();
    if (steps == 0) first_t0 = t0;
    std::optional<double> loss;
    if (train) {
      torch::Tensor l = TrainStep(model, *optimizer, x, y);
      Synchronize(device);
      const std::int64_t t1 = MonotonicNs();
      loss = l.item<double>();
      events.WriteStep(steps, t0, t1, spec.batch_size, loss);
    } else {
      torch::InferenceMode guard;
      torch::Tensor logits = InferStep(model, x);
      Synchronize(device);
      const std::int64_t t1 = MonotonicNs();
      events.WriteStep(steps, t0, t1, spec.batch_size, std::nullopt);
    }
    ++steps;
  }

  events.WriteMetric("peak_rss_bytes", static_cast<double>(PeakRssBytes()), "bytes");
  if (!train && spec.parity_batch > 0) {
    const auto n =
        std::min<std::size_t>(static_cast<std::size_t>(spec.parity_batch), dataset.size());
    std::vector<std::size_t> indices(n);
    std::iota(indices.begin(), indices.end(), std::size_t{0});
    torch::Tensor fixed = torch::empty({static_cast<std::int64_t>(n), 3, 32, 32}, torch::kFloat32);
    torch::Tensor fixed_labels = torch::empty({static_cast<std::int64_t>(n)}, torch::kInt64);
    batcher->FillFixed(
        indices, std::span<float>(fixed.data_ptr<float>(), static_cast<std::size_t>(fixed.numel())),
        std::span<std::int64_t>(fixed_labels.data_ptr<std::int64_t>(), n));
    torch::InferenceMode guard;
    const std::filesystem::path path = spec.output_dir / "logits.safetensors";
    WriteLogits(model->forward(fixed.to(device)), path);
    events.WriteOutput("logits", path.string());
  }
  events.WriteDone(steps);
  return 0;
}

}  // namespace

std::string LibtorchVersion() {
#ifdef TORCH_VERSION
  return TORCH_VERSION;
#else
  return fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH);
#endif
}

int RunLibtorchTrial(const TrialSpec& spec, std::int64_t t_main_ns, std::FILE* out) {
  protocol::EventWriter events(out);
  try {
    return Run(spec, t_main_ns, events);
  } catch (const UsageError& e) {
    events.WriteError("usage", e.what());
    return 2;
  } catch (const std::exception& e) {
    events.WriteError("runtime", e.what());
    return 1;
  }
}

void GenerateInitialWeights(const std::string& arch, const std::string& stem,
                            std::int64_t num_classes, std::uint64_t seed,
                            const std::filesystem::path& path) {
  torch::manual_seed(seed);
  models::ResNet model =
      models::MakeResNet({.arch = arch, .stem = stem, .num_classes = num_classes});
  models::SaveStateDict(*model, path,
                        {{"fwbench.arch", arch},
                         {"fwbench.stem", stem},
                         {"fwbench.num_classes", std::to_string(num_classes)},
                         {"fwbench.seed", std::to_string(seed)}});
}

void CheckWeights(const std::string& arch, const std::string& stem, std::int64_t num_classes,
                  const std::filesystem::path& path) {
  models::ResNet model =
      models::MakeResNet({.arch = arch, .stem = stem, .num_classes = num_classes});
  models::LoadStateDict(*model, path);
}

}  // namespace fwbench
