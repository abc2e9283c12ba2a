#include "core/error.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace fwbench {

std::string WriteErrorMessage(const std::string& path, int error_number) {
  std::string hint;
  if (error_number == ENOSPC || error_number == EDQUOT) {
    hint = " (free some space there, or point --out at another disk)";
  } else if (error_number == EROFS || error_number == EACCES || error_number == EPERM) {
    hint = " (point --out at a folder you can write to)";
  }
  return fmt::format("cannot write {}: {}{}", path,
                     error_number == 0 ? "the write failed" : std::strerror(error_number), hint);
}

}  // namespace fwbench
