#pragma once
// Writing a whole file so that readers see the old contents or the new ones, never half: a
// temporary file in the same folder, renamed over the target (atomic on POSIX).
#include <filesystem>
#include <string_view>

namespace fwbench {

// Throws UsageError naming the file when it cannot be written (a missing folder, a full disk,
// no permission).
void WriteFileAtomically(const std::filesystem::path& path, std::string_view contents);

}  // namespace fwbench
