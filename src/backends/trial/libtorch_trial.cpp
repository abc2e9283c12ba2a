#include "backends/trial/libtorch_trial.h"

#include <ATen/autocast_mode.h>
#include <sys/resource.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include <iostream>
#include <numeric>

#include "backends/env/libtorch_info.h"
#include "backends/inference/torchscript_inference.h"
#include "backends/served/aoti_package.h"
#include "backends/trial/gloo_allreduce.h"
#include "backends/trial/libtorch_llm_trial.h"
#include "backends/trial/libtorch_pipeline.h"
#include "backends/trial/torchscript_compile.h"
#include "backends/trial/training_perturbation.h"
#include "backends/trial/trial_common.h"
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

torch::Dtype ComputeDtype(const TrialSpec& spec) {
  return spec.precision == "bf16" ? torch::kBFloat16 : torch::kFloat32;
}

// Puts the model in the form the trial computes with: bf16 weights for bf16 inference (bf16
// training keeps fp32 master weights and runs the forward under autocast), 4-D weights in
// channels-last order when asked.
void ConvertModel(torch::nn::Module& model, const TrialSpec& spec, bool train) {
  if (!train && spec.precision == "bf16") model.to(torch::kBFloat16);
  if (spec.memory_format == "channels_last") {
    torch::NoGradGuard no_grad;
    for (torch::Tensor& p : model.parameters()) {
      if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
    }
  }
}

// The compiled forward: the model traced to TorchScript, then frozen and optimised for
// inference, or run by the profiling graph executor for training.
struct CompiledModel {
  torch::jit::Module traced;  // what is saved for other runtimes (Python, the server)
  // What the trial runs when inferring: the server's code path (torchscript_inference.h).
  std::optional<TorchScriptInference> inference;
  std::string executor;
};

CompiledModel Compile(models::ResNet& model, const torch::Tensor& example,
                      const torch::Tensor& check_input, const TrialSpec& spec,
                      const torch::Device& device, bool train) {
  TraceOptions options;
  options.check_input = check_input;
  if (spec.precision == "bf16") {
    // bf16 keeps ~3 significant digits; graph rewrites reorder its rounding.
    options.check_atol = 0.1;
    options.check_rtol = 0.05;
  }
  CompiledModel compiled;
  compiled.traced = TraceModule(
      *model, [&](const torch::Tensor& x) { return model->forward(x); }, example, options);
  if (train) {
    compiled.executor = ConfigureTrainingExecutor(device);
  } else {
    compiled.inference = TorchScriptInference::FromTraced(compiled.traced);
    compiled.executor = compiled.inference->executor();
  }
  return compiled;
}

int Run(const TrialSpec& spec, std::int64_t t_main_ns, protocol::EventWriter& events,
        const TrialFaults& faults, const AotiExporter& export_aoti) {
  if (spec.workload == kWorkloadLlm) return RunLibtorchLlmTrial(spec, t_main_ns, events, faults);
  if (spec.task == kTaskInputPipeline) {
    if (faults.perturb_weights != 0.0 || !faults.training_fault.empty()) {
      throw UsageError("--perturb-weights and --fault do not apply to task input_pipeline");
    }
    return RunLibtorchPipelineTrial(spec, t_main_ns, events);
  }
  const bool train = IsTrainingTask(spec.task);
  // Data-parallel: this rank trains on its slice of each global batch of batch × processes
  // samples, and the gradients are averaged over the ranks before every update.
  const bool ddp = spec.task == kTaskTrainDdp;
  const std::int64_t world = ddp ? spec.ddp.processes : 1;
  const DdpPeers peers = ddp ? DdpPeersFromEnvironment(spec.ddp.processes) : DdpPeers{};
  const bool compiled_mode = spec.mode == "compiled";
  const bool aoti_mode = spec.mode == "aoti";
  nlohmann::json hello_extra = {{"precision", spec.precision},
                                {"memory_format", spec.memory_format}};
  if (spec.rounding_probe != 0) hello_extra["rounding_probe"] = spec.rounding_probe;
  if (ddp) {
    hello_extra["ddp"] = {{"rank", peers.rank},
                          {"processes", spec.ddp.processes},
                          {"hosts", spec.ddp.hosts},
                          {"collectives", "c10d gloo"}};
  }
  // What the kernel probe changed is recorded with it (the trial says what it set).
  if (spec.rounding_probe == kKernelProbe) hello_extra["onednn"] = false;
  if (!faults.training_fault.empty()) hello_extra["training_fault"] = faults.training_fault;
  WriteLibtorchHello(events, spec, t_main_ns, std::move(hello_extra), faults.perturb_weights);
  if (const std::string why =
          LibtorchUnsupportedReason(spec.mode, spec.task, spec.precision, spec.memory_format);
      !why.empty()) {
    throw UsageError(why);
  }

  if (!train && (spec.rounding_probe != 0 || !faults.training_fault.empty())) {
    throw UsageError(
        "a rounding probe or a training fault (--fault) applies to training trials only");
  }
  TrainingPerturbation perturbation(spec.rounding_probe, faults.training_fault, spec.seed);
  if (perturbation.UsesOtherKernels()) at::globalContext().setUserEnabledMkldnn(false);

  const torch::Device device = InitPhase(events, spec);

  // The AOTInductor package holds the model and its weights: no C++ model in that mode.
  models::ResNet model{nullptr};
  if (!aoti_mode) {
    model = TimedPhase(events, "build", [&] {
      models::ResNet m = models::MakeResNet(
          {.arch = spec.arch, .stem = spec.stem, .num_classes = spec.num_classes});
      m->to(device);
      return m;
    });
    TimedPhase(events, "load_weights", [&] {
      models::LoadStateDict(*model, spec.weights);
      if (faults.perturb_weights != 0.0) PerturbWeights(*model, faults.perturb_weights);
      ConvertModel(*model, spec, train);
    });
  } else if (faults.perturb_weights != 0.0) {
    throw UsageError(
        "--perturb-weights does not apply to libtorch/aoti (the package holds the "
        "weights file's values)");
  }

  const auto batch = static_cast<std::size_t>(spec.batch_size * world);
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

  const torch::Dtype input_dtype = train ? torch::kFloat32 : ComputeDtype(spec);
  const auto input_format = spec.memory_format == "channels_last"
                                ? torch::MemoryFormat::ChannelsLast
                                : torch::MemoryFormat::Contiguous;
  // Converts a host batch to what the model takes: device, dtype, memory format.
  const auto to_model_input = [&](const torch::Tensor& host) {
    return host.to(device, input_dtype).contiguous(input_format);
  };
  const auto global = static_cast<std::int64_t>(batch);
  torch::Tensor images = torch::empty({global, 3, 32, 32}, torch::kFloat32);
  torch::Tensor labels = torch::empty({global}, torch::kInt64);
  const std::int64_t first_row = peers.rank * spec.batch_size;
  const auto fill = [&](std::int64_t step) {
    batcher->Fill(
        static_cast<std::size_t>(step),
        std::span<float>(images.data_ptr<float>(), static_cast<std::size_t>(images.numel())),
        std::span<std::int64_t>(labels.data_ptr<std::int64_t>(), batch));
    // clone: on the CPU, .to() of an already matching tensor returns `images` itself, which
    // the next fill overwrites.
    return std::pair{to_model_input(images.narrow(0, first_row, spec.batch_size)).clone(),
                     labels.narrow(0, first_row, spec.batch_size).to(device).clone()};
  };

  if (train) {
    model->train();
    perturbation.PrepareModel(*model);
  } else if (model) {
    model->eval();
  }
  std::optional<CompiledModel> compiled;
  if (compiled_mode) {
    compiled = TimedPhase(events, "compile", [&] {
      // Two different real batches: one to trace, one to check the trace generalises.
      const torch::Tensor example = fill(0).first;
      const torch::Tensor check = fill(1).first;
      return Compile(model, example, check, spec, device, train);
    });
    std::cerr << fmt::format("fwbench trial: compiled with {}\n", compiled->executor);
  }
  const std::filesystem::path package = spec.output_dir / "model.pt2";
  std::unique_ptr<AotiPackage> aoti;
  if (aoti_mode) {
    aoti = TimedPhase(events, "compile", [&] {
      if (!export_aoti) {
        throw UsageError(
            "libtorch/aoti exports the model with the PyTorch worker: run it through `fwbench "
            "run`, or `fwbench trial --pytorch-worker PYTHON FWBENCH_WORKER_PY SPEC`");
      }
      const std::string how = export_aoti(spec, package);
      std::cerr << fmt::format("fwbench trial: compiled with {}\n", how);
      return std::make_unique<AotiPackage>(package);
    });
    // The loader extracted what it runs; the package stays only when the run keeps the model.
    if (!spec.save_model) std::filesystem::remove(package);
  }
  const Forward forward = [&]() -> Forward {
    if (aoti) return [&](const torch::Tensor& x) { return aoti->Run({x}).at(0); };
    if (!compiled) return [&](const torch::Tensor& x) { return model->forward(x); };
    if (!train) return [&](const torch::Tensor& x) { return compiled->inference->Run({x}).at(0); };
    torch::jit::Module& m = compiled->traced;
    return [&m](const torch::Tensor& x) { return m.forward({x}).toTensor(); };
  }();

  std::optional<torch::optim::SGD> optimizer;
  if (train) {
    optimizer.emplace(MakeOptimizer(*model, perturbation.Optimizer(spec.optimizer)));
  }
  const bool autocast = train && spec.precision == "bf16";
  // Every rank meets here, after its own set-up, so no rank's set-up is inside a step.
  std::unique_ptr<GlooAllreduce> allreduce;
  if (ddp) {
    allreduce = TimedPhase(events, "rendezvous", [&] {
      return std::make_unique<GlooAllreduce>(
          peers, std::chrono::seconds(static_cast<std::int64_t>(spec.budget.max_seconds) + 60));
    });
  }
  std::vector<torch::Tensor> parameters;
  if (ddp) parameters = model->parameters();
  const bool hook = ddp || perturbation.active();

  const std::int64_t steps = RunTimedSteps(
      events, spec.budget, device, spec.batch_size * world,
      [&](std::int64_t step) {
        auto batch = fill(step);
        if (train) perturbation.AdjustBatch(batch.first, batch.second, spec.num_classes);
        return batch;
      },
      [&](const std::pair<torch::Tensor, torch::Tensor>& batch) -> StepResult {
        const auto& [x, y] = batch;
        if (!train) {
          torch::InferenceMode guard;
          return {.loss = {}, .tokens = std::nullopt, .outputs = {InferStep(forward, x)}};
        }
        AutocastScope scope(autocast, device);
        return {.loss = TrainStep(forward, *optimizer, x, y,
                                  hook ? std::function<void()>([&] {
                                    if (allreduce) allreduce->AverageGradients(parameters);
                                    if (perturbation.active()) perturbation.BeforeUpdate(*model);
                                  })
                                       : nullptr),
                .tokens = std::nullopt,
                .outputs = {}};
      });

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
    WriteParityOutput(fixed, forward(to_model_input(fixed)), path);
    events.WriteOutput("logits", path.string());
  }
  if (compiled && spec.save_model && !train) {
    const std::filesystem::path path = spec.output_dir / "model.torchscript.pt";
    SaveTorchScript(compiled->traced, path);
    events.WriteOutput("torchscript", path.string());
  }
  if (aoti && spec.save_model) events.WriteOutput("aoti_package", package.string());
  events.WriteDone(steps);
  return 0;
}

}  // namespace

const std::vector<TrainingFaultInfo>& TrainingFaults() {
  static const std::vector<TrainingFaultInfo> faults = {
      {"lr-1.1", "learning rate x 1.1", false},
      {"momentum-0", "SGD momentum 0 instead of the plan's", false},
      {"weight-decay-on", "weight decay 5e-4 more than the plan's", false},
      {"bn-eval", "one BatchNorm (layer4.1.bn2) in eval mode: running statistics, not the batch's",
       false},
      {"layer-noise", "one layer's weights (layer3.0.conv1) + N(0, 1e-3^2) after loading", false},
      {"labels-shifted", "every label shifted by one class", false},
      {"batch-reversed",
       "the same batch in reverse order: every reduction over the batch (BatchNorm statistics, "
       "weight gradients, the mean loss) adds in another order",
       true},
      {"gradient-ulp", "every gradient moved by one ulp (random direction) before each update",
       true},
      {"onednn-off",
       "oneDNN off: convolutions on LibTorch's native im2col + BLAS kernels, as another "
       "framework's would be other kernels",
       true},

  };
  return faults;
}

const TrainingFaultInfo& TrainingFaultNamed(std::string_view name) {
  std::string names;
  for (const TrainingFaultInfo& f : TrainingFaults()) {
    if (name == f.name) return f;
    names += fmt::format("{}{}", names.empty() ? "" : ", ", f.name);
  }
  throw UsageError(
      fmt::format("--fault {}: unknown training fault; expected one of {}", name, names));
}

std::string LibtorchVersion() {
#ifdef TORCH_VERSION
  return TORCH_VERSION;
#else
  return fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH);
#endif
}

std::string LibtorchUnsupportedReason(const std::string& mode, const std::string& task,
                                      const std::string& precision,
                                      const std::string& memory_format) {
  if (mode != "eager" && mode != "compiled" && mode != "aoti") {
    return fmt::format("libtorch has no mode '{}' (supported: eager, compiled, aoti)", mode);
  }
  if (mode == "aoti") {
    if (task != "infer") {
      return "libtorch/aoti runs inference only: an AOTInductor package is an exported inference "
             "graph (training in C++: libtorch/eager or libtorch/compiled)";
    }
    if (precision != "fp32" || memory_format != "contiguous") {
      return fmt::format(
          "libtorch/aoti runs fp32 contiguous only (asked: {} {}); bf16 and channels_last: "
          "libtorch/eager or libtorch/compiled",
          precision, memory_format);
    }
    return AotiUnavailableReason();
  }
  if (precision != "fp32" && precision != "bf16") {
    return fmt::format("libtorch does not run precision '{}' (supported: fp32, bf16)", precision);
  }
  if (memory_format != "contiguous" && memory_format != "channels_last") {
    return fmt::format(
        "libtorch does not know memory format '{}' (supported: contiguous, "
        "channels_last)",
        memory_format);
  }
  if (task == kTaskTrainDdp) {
    if (std::string why = GlooUnavailableReason(); !why.empty()) return why;
  }
  if (mode == "compiled" && IsTrainingTask(task) && precision != "fp32") {
    return fmt::format(
        "libtorch/compiled training runs in fp32 only: bf16 training uses autocast, which the "
        "tracer does not capture. Supported: libtorch/eager train fp32|bf16, libtorch/compiled "
        "train fp32, libtorch/eager and libtorch/compiled infer fp32|bf16 (both memory formats)");
  }
  return "";
}

int RunLibtorchTrial(const TrialSpec& spec, std::int64_t t_main_ns, std::FILE* out,
                     const TrialFaults& faults, const AotiExporter& export_aoti) {
  protocol::EventWriter events(out);
  try {
    return Run(spec, t_main_ns, events, faults, export_aoti);
  } catch (const TraceError& e) {
    events.WriteError("unsupported", e.what());
    return 1;
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
