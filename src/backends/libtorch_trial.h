#pragma once
// The reference trial runner: the LibTorch eager backend speaking the trial protocol.
// Kept free of torch headers so the CLI can include it cheaply.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "core/trial_spec.h"

namespace fwbench {

// Runs one trial and writes its events to `out`. Returns the process exit code: 0 on success,
// 2 for a usage error in the spec or its files, 1 for anything else (an `error` event says what).
int RunLibtorchTrial(const TrialSpec& spec, std::int64_t t_main_ns, std::FILE* out);

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
