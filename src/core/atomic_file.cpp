#include "core/atomic_file.h"

#include <fmt/format.h>

#include <cerrno>
#include <fstream>
#include <system_error>

#include "core/error.h"

namespace fwbench {

void WriteFileAtomically(const std::filesystem::path& path, std::string_view contents) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    errno = 0;
    std::ofstream out(tmp, std::ios::binary);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.close();  // flushes; a failed write or flush leaves the stream failed
    if (!out) {
      const int error = errno;
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);  // half a file only takes the space others need
      throw WriteError(WriteErrorMessage(tmp.string(), error));
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
