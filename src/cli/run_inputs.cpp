#include "cli/run_inputs.h"

#include <fmt/format.h>

#include <sched.h>

#include <algorithm>
#include <iostream>
#include <thread>

#include "backends/libtorch_trial.h"
#include "core/error.h"
#include "data/cifar10.h"
#include "data/synthetic.h"

namespace fwbench::cli {

int UsableCores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// The data every trial reads: the user's CIFAR-10 folder (validated up front, so a truncated
// file is a usage error before any trial runs) or the embedded synthetic set, generated once.
std::filesystem::path PrepareData(const Plan& plan) {
  if (!plan.data_dir.empty()) {
    std::cerr << fmt::format("checking data in {} …\n", plan.data_dir.string());
    data::ReadCifar10Dir(plan.data_dir, data::Split::kTrain);
    data::ReadCifar10Dir(plan.data_dir, data::Split::kTest);
    return std::filesystem::absolute(plan.data_dir);
  }
  const data::SyntheticOptions options{
      .seed = plan.seed,
      .train_per_file = static_cast<std::size_t>(plan.synthetic_train_per_file),
      .test_records = static_cast<std::size_t>(plan.synthetic_test)};
  const std::filesystem::path dir =
      std::filesystem::absolute(plan.out_dir / "cache" /
                                fmt::format("synthetic-cifar10-s{}-{}x5-{}", plan.seed,
                                            plan.synthetic_train_per_file, plan.synthetic_test));
  if (data::EnsureSyntheticCifar10(dir, options)) {
    std::cerr << fmt::format("generated synthetic CIFAR-10 data in {}\n", dir.string());
  }
  return dir;
}

std::filesystem::path PrepareWeights(const Plan& plan) {
  if (!plan.weights.empty()) {
    // The user's checkpoint: refuse it now, with its problems named, rather than in every trial.
    CheckWeights(plan.arch, plan.stem, plan.num_classes, plan.weights);
    return std::filesystem::absolute(plan.weights);
  }
  const std::filesystem::path path =
      std::filesystem::absolute(plan.out_dir / "cache" /
                                fmt::format("weights-{}-{}-c{}-s{}.safetensors", plan.arch,
                                            plan.stem, plan.num_classes, plan.seed));
  if (std::filesystem::exists(path)) {
    try {
      CheckWeights(plan.arch, plan.stem, plan.num_classes, path);
      return path;
    } catch (const UsageError& e) {
      std::cerr << fmt::format("cached weights are unusable, generating them again: {}\n",
                               e.what());
    }
  }
  GenerateInitialWeights(plan.arch, plan.stem, plan.num_classes, plan.seed, path);
  std::cerr << fmt::format("generated initial weights {}\n", path.string());
  return path;
}

// The ONNX export of the weights, for backends that run ONNX; made once per weights file and
// kept next to it (a stale one, older than the weights, is made again).
std::filesystem::path PrepareOnnx(const Plan& plan, const std::filesystem::path& weights,
                                  const std::vector<BuiltinBackend>& builtins, bool raw) {
  std::filesystem::path path = weights;
  // The suffix names the export recipe (opset, Identity inlining): a new recipe, a new file.
  path.replace_extension(raw ? ".opset13-raw.onnx" : ".opset13-v2.onnx");
  if (std::filesystem::exists(path) &&
      std::filesystem::last_write_time(path) >= std::filesystem::last_write_time(weights)) {
    return path;
  }
  const auto pytorch = std::find_if(builtins.begin(), builtins.end(),
                                    [](const BuiltinBackend& b) { return b.name == "pytorch"; });
  if (pytorch == builtins.end()) throw std::runtime_error("no PyTorch worker to export ONNX");
  std::cerr << fmt::format("exporting {} to ONNX …\n", weights.filename().string());
  const nlohmann::json answer =
      ExportOnnx(*pytorch, plan.arch, plan.stem, plan.num_classes, weights, path, raw);
  const int inlined = answer.value("identities_inlined", -1);
  std::cerr << fmt::format("exported {} ({}, {:.1f} s{})\n", path.string(),
                           answer.value("exporter", "?"), answer.value("seconds", 0.0),
                           inlined > 0   ? fmt::format(", {} Identity nodes inlined", inlined)
                           : inlined < 0 ? ", onnx package missing: Identity nodes kept"
                                         : "");
  return path;
}

// The boilerplate metric: how many lines of code each backend's port of the workload is.
nlohmann::json PortSizes(const std::vector<Configuration>& configs,
                         const std::vector<BuiltinBackend>& builtins) {
  nlohmann::json out = nlohmann::json::object();
  for (const Configuration& c : configs) {
    if (out.contains(c.backend)) continue;
    std::vector<std::filesystem::path> files;
    if (c.backend == "libtorch") {
      // No torchvision in C++: the model itself is part of the port.
      const std::filesystem::path src = std::filesystem::path(FWBENCH_SOURCE_DIR) / "src";
      files = {src / "models/resnet.h",
               src / "models/resnet.cpp",
               src / "workloads/image_classification.h",
               src / "workloads/image_classification.cpp",
               src / "backends/libtorch_trial.cpp",
               src / "backends/torchscript_compile.cpp"};
    }
    for (const BuiltinBackend& b : builtins) {
      if (b.name == c.backend && !b.port_files.empty()) files = b.port_files;
    }
    if (files.empty()) continue;
    std::int64_t lines = 0;
    nlohmann::json names = nlohmann::json::array();
    for (const auto& f : files) {
      const std::int64_t n = CountCodeLines(f);
      if (n < 0) {
        lines = -1;
        break;
      }
      lines += n;
      names.push_back(f.string());
    }
    if (lines >= 0) out[c.backend] = {{"files", names}, {"code_lines", lines}};
  }
  return out;
}

std::vector<BuiltinBackend> DetectWorkers(const Plan& plan, const std::filesystem::path& self) {
  if (!PlanUsesBuiltinWorkers(plan)) return {};
  const std::filesystem::path dir = WorkersDir(self);
  std::cerr << fmt::format("detecting framework workers in {} …\n", dir.string());
  std::vector<BuiltinBackend> builtins = ProbeBuiltinWorkers(dir);
  for (const BuiltinBackend& b : builtins) {
    std::cerr << (b.Available()
                      ? fmt::format("  {:<17} {} {}\n", b.name, b.description, b.version)
                      : fmt::format("  {:<17} not available: {}\n", b.name, b.unavailable));
  }
  return builtins;
}

}  // namespace fwbench::cli
