#include "backends/trial/libtorch_pipeline.h"

#include <torch/torch.h>

#include <fmt/format.h>

#include <memory>
#include <optional>
#include <vector>

#include "backends/trial/trial_common.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/proc_stat.h"
#include "data/cifar10.h"
#include "data/image_batcher.h"
#include "data/image_folder.h"
#include "data/pipeline_loader.h"
#include "data/safetensors.h"
#include "models/resnet.h"
#include "models/weights.h"
#include "workloads/image_classification.h"

namespace fwbench {
namespace {

// Batches each loader thread fills ahead of the consumer.
constexpr std::size_t kPrefetchPerWorker = 2;
// Step events go out in stretches of this long (one write each).
constexpr std::int64_t kFlushNs = 100'000'000;

void WriteBatches(const std::vector<float>& images, const std::vector<std::int64_t>& labels,
                  const std::filesystem::path& path) {
  const auto n = static_cast<std::int64_t>(labels.size());
  safetensors::Write(path, {{"images",
                             safetensors::DType::kF32,
                             {n, 3, 32, 32},
                             std::as_bytes(std::span<const float>(images))},
                            {"labels",
                             safetensors::DType::kI64,
                             {n},
                             std::as_bytes(std::span<const std::int64_t>(labels))}});
}

}  // namespace

int RunLibtorchPipelineTrial(const TrialSpec& spec, std::int64_t t_main_ns,
                             protocol::EventWriter& events) {
  const PipelineSpec& p = spec.pipeline;
  if (p.loader != "cpp") {
    throw UsageError(fmt::format(
        "pipeline.loader is \"{}\"; LibTorch runs fwbench's own loader, \"cpp\"", p.loader));
  }
  if (spec.mode != "eager" || spec.precision != "fp32" || spec.memory_format != "contiguous") {
    throw UsageError(fmt::format(
        "task input_pipeline runs libtorch in mode eager, precision fp32, memory_format "
        "contiguous only (the spec has {}, {}, {})",
        spec.mode, spec.precision, spec.memory_format));
  }
  const bool train = p.model_step == "train";
  const nlohmann::json settings = {
      {"threads", p.workers},
      {"prefetch_per_thread", p.workers > 0 ? kPrefetchPerWorker : 0},
      {"decoder", p.source == kPipelineSourceFolder ? "OpenCV imgcodecs (libpng, libjpeg-turbo)"
                                                    : "none (CIFAR-10 binary records)"}};
  WriteLibtorchHello(
      events, spec, t_main_ns,
      {{"precision", spec.precision},
       {"memory_format", spec.memory_format},
       {"pipeline",
        {{"loader", p.loader},
         {"workers", p.workers},
         {"settings", settings},
         {"recommended",
          "fwbench's reference loader: threads filling whole batches in order, each a few "
          "batches ahead"}}}},
      0.0, p.workers);
  const torch::Device device = InitPhase(events, spec);

  models::ResNet model{nullptr};
  std::optional<torch::optim::SGD> optimizer;
  if (train) {
    model = TimedPhase(events, "build", [&] {
      models::ResNet m = models::MakeResNet(
          {.arch = spec.arch, .stem = spec.stem, .num_classes = spec.num_classes});
      m->to(device);
      return m;
    });
    TimedPhase(events, "load_weights", [&] { models::LoadStateDict(*model, spec.weights); });
    model->train();
    optimizer.emplace(MakeOptimizer(*model, spec.optimizer));
  }

  const auto batch = static_cast<std::size_t>(spec.batch_size);
  const data::BatchOptions options{
      .batch_size = batch, .augment = spec.augment, .shuffle = spec.shuffle, .seed = spec.seed};
  data::ImageSet cifar;
  data::ImageFolder folder;
  std::unique_ptr<data::ImageBatcher> batcher;
  TimedPhase(events, "data", [&] {
    std::size_t records = 0;
    std::string where;
    if (p.source == kPipelineSourceFolder) {
      folder = data::ListImageFolder(p.images_dir);
      records = folder.size();
      where = p.images_dir.string();
      batcher = std::make_unique<data::ImageBatcher>(folder, options);
    } else {
      cifar = data::ReadCifar10Dir(spec.data_dir, data::Split::kTrain);
      records = cifar.size();
      where = spec.data_dir.string();
      batcher = std::make_unique<data::ImageBatcher>(cifar, options);
    }
    if (records < batch) {
      throw UsageError(
          fmt::format("{}: {} images, fewer than one batch of {}", where, records, batch));
    }
    if (train && p.source == kPipelineSourceFolder &&
        folder.classes.size() > static_cast<std::size_t>(spec.num_classes)) {
      throw UsageError(fmt::format("{}: {} class folders, more than the model's {} classes", where,
                                   folder.classes.size(), spec.num_classes));
    }
  });

  const double cpu0 = SelfCpuSeconds();
  auto loader = TimedPhase(events, "loader", [&] {
    return std::make_unique<data::PipelineLoader>(*batcher, p.workers, kPrefetchPerWorker);
  });
  const Forward forward = [&](const torch::Tensor& x) { return model->forward(x); };
  std::vector<float> kept_images;
  std::vector<std::int64_t> kept_labels;
  std::vector<protocol::EventWriter::PipelineStep> pending;
  std::int64_t steps = 0;
  std::int64_t first_t0 = 0;
  std::int64_t last_flush = MonotonicNs();
  // Steps are back to back: a loader that fills ahead hands over a ready batch at once, so
  // only the time from one batch's arrival to the next measures its rate (with the consumer's
  // own work, training or a no-op, inside). Their events go out every kFlushNs, outside it.
  std::int64_t t0 = MonotonicNs();
  for (;;) {
    const double elapsed_s =
        steps == 0 ? 0.0 : static_cast<double>(MonotonicNs() - first_t0) * 1e-9;
    if (!BudgetLeft(spec.budget, steps, elapsed_s)) break;
    if (steps == 0) first_t0 = t0;
    const data::PipelineLoader::Batch& b = loader->Next();
    const std::int64_t t_input = MonotonicNs();
    std::optional<double> loss;
    if (train) {
      // The loader's buffer as it is: valid until the next batch, which the step never sees.
      const torch::Tensor images = torch::from_blob(const_cast<float*>(b.images.data()),
                                                    {spec.batch_size, 3, 32, 32}, torch::kFloat32);
      const torch::Tensor labels = torch::from_blob(const_cast<std::int64_t*>(b.labels.data()),
                                                    {spec.batch_size}, torch::kInt64);
      const torch::Tensor l = TrainStep(forward, *optimizer, images.to(device), labels.to(device));
      Synchronize(device);
      loss = l.item<double>();
    }
    const std::int64_t t1 = MonotonicNs();
    pending.push_back({.index = steps,
                       .t0_ns = t0,
                       .t_input_ns = t_input,
                       .t1_ns = t1,
                       .samples = spec.batch_size,
                       .loss = loss});
    t0 = t1;
    // The first step at once (the progress line, the CPU watch's window), then in stretches.
    if (steps == 0 || t1 - last_flush >= kFlushNs) {
      events.WritePipelineSteps(pending);
      pending.clear();
      last_flush = t0 = MonotonicNs();
    }
    if (steps < p.check_batches) {
      kept_images.insert(kept_images.end(), b.images.begin(), b.images.end());
      kept_labels.insert(kept_labels.end(), b.labels.begin(), b.labels.end());
      t0 = MonotonicNs();  // a copy for the check, not the pipeline's work
    }
    ++steps;
  }
  if (!pending.empty()) events.WritePipelineSteps(pending);
  events.WriteMetric("peak_rss_bytes", static_cast<double>(PeakRssBytes()), "bytes");
  events.WriteMetric("loader_processes", 0.0, "count");
  loader.reset();  // joins the loader threads
  events.WriteMetric("pipeline_cpu_s", SelfCpuSeconds() - cpu0, "s");
  events.WriteMetric("pipeline_samples", static_cast<double>(steps * spec.batch_size), "samples");
  if (!kept_labels.empty()) {
    const std::filesystem::path path = spec.output_dir / "pipeline_batches.safetensors";
    WriteBatches(kept_images, kept_labels, path);
    events.WriteOutput("pipeline_batches", path.string());
  }
  events.WriteDone(steps);
  return 0;
}

}  // namespace fwbench
