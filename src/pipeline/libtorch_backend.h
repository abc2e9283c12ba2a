#pragma once
// LibTorch's catalogue entry with what only the LibTorch side knows: which configurations its
// trial runners refuse (aoti needs LibTorch >= 2.6, the LLM's compiled mode does not generate
// text, ...) and which source files are its port of each workload.
#include <filesystem>
#include <vector>

#include "orchestrate/builtin_workers.h"

namespace fwbench::pipeline {

BuiltinBackend LibtorchBackend(const std::filesystem::path& self_exe,
                               const std::vector<BuiltinBackend>& workers);

}  // namespace fwbench::pipeline
