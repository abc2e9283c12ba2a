#include "serve/file_limit.h"

#include <fmt/format.h>
#include <sys/resource.h>

namespace fwbench::serve {

ConnectionLimit FitConnectionsToFileLimit(std::size_t wanted) {
  constexpr rlim_t kReserved = 64;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return {wanted, ""};
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= wanted + kReserved) {
    return {wanted, ""};
  }
  const auto room =
      static_cast<std::size_t>(limit.rlim_cur > kReserved ? limit.rlim_cur - kReserved : 1);
  return {room, fmt::format("at most {} connections, not {}: the open-file limit is {} (raise "
                            "it with `ulimit -n`)",
                            room, wanted, limit.rlim_cur)};
}

}  // namespace fwbench::serve
