#include "core/atomic_file.h"

#include <fmt/format.h>

#include <fstream>
#include <system_error>

#include "core/error.h"

namespace fwbench {

void WriteFileAtomically(const std::filesystem::path& path, std::string_view contents) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.flush();
    if (!out) {
      throw UsageError(fmt::format("cannot write '{}' (does the folder exist, is the disk full?)",
                                   tmp.string()));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw UsageError(fmt::format("cannot move '{}' into place as '{}': {}", tmp.string(),
                                 path.string(), ec.message()));
  }
}

}  // namespace fwbench
