#pragma once
// The reference trial runner: the LibTorch eager backend speaking the trial protocol.
// Kept free of torch headers so the CLI can include it cheaply.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/trial_spec.h"

namespace fwbench {

// Deliberate faults, for testing what is downstream of a trial (the parity gate).
struct TrialFaults {
  // Adds N(0, perturb_weights²) noise to every floating-point parameter after loading, so the
  // trial computes a slightly different function from the same weights file.
  double perturb_weights = 0.0;
  // A named training fault (TrainingFaults()); empty for none.
  std::string training_fault;
};

// The training faults `fwbench trial --fault NAME` injects (docs/parity.md, "The gate's own
// tests"). A rounding-only one computes the same function as the reference, rounded
// differently: the gate must let it pass; every other one must fail.
struct TrainingFaultInfo {
  const char* name;
  const char* what;
  bool rounding_only;
};
const std::vector<TrainingFaultInfo>& TrainingFaults();
// The fault of that name; throws UsageError listing the known ones for any other name.
const TrainingFaultInfo& TrainingFaultNamed(std::string_view name);

// libtorch/aoti's compile step: writes the AOTInductor package of the spec's model (its arch,
// stem, classes and weights file) to `package`, using the spec's threads, and returns how it was
// made (e.g. "torch.export + AOTInductor 2.15.0"). torch.export runs in Python, so the CLI
// supplies this (it runs the PyTorch worker's exporter); it throws when the export fails.
using AotiExporter =
    std::function<std::string(const TrialSpec& spec, const std::filesystem::path& package)>;

// Runs one trial and writes its events to `out`. Returns the process exit code: 0 on success,
// 2 for a usage error in the spec or its files, 1 for anything else (an `error` event says what:
// kind `unsupported` when the model cannot be compiled, e.g. it cannot be traced).
// libtorch/aoti trials call `export_aoti` in their compile phase (a usage error without it).
int RunLibtorchTrial(const TrialSpec& spec, std::int64_t t_main_ns, std::FILE* out,
                     const TrialFaults& faults = {}, const AotiExporter& export_aoti = nullptr);

// Empty when the libtorch backend runs this combination; otherwise why not, naming what is
// supported. The CLI refuses such configurations before any trial starts.
std::string LibtorchUnsupportedReason(const std::string& mode, const std::string& task,
                                      const std::string& precision,
                                      const std::string& memory_format);

// Writes a plan's initial weights: the model built from `seed` with torchvision's
// initialisation, saved as .safetensors. Every trial of every backend loads this file.
void GenerateInitialWeights(const std::string& arch, const std::string& stem,
                            std::int64_t num_classes, std::uint64_t seed,
                            const std::filesystem::path& path);

// Checks up front that a weights file loads into the model (names, shapes, dtypes); throws
// UsageError naming the file and what does not match.
void CheckWeights(const std::string& arch, const std::string& stem, std::int64_t num_classes,
                  const std::filesystem::path& path);

// "1.13.1" etc.
std::string LibtorchVersion();

}  // namespace fwbench
