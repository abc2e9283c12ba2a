#pragma once
// `fwbench lora-merge`, kept free of torch headers for the CLI.
#include <filesystem>

namespace fwbench {

// models::MergeAdapterIntoCheckpoint: throws UsageError naming the file for a bad checkpoint or
// adapter.
void MergeLoraAdapter(const std::filesystem::path& base, const std::filesystem::path& adapter,
                      const std::filesystem::path& out);

}  // namespace fwbench
