#pragma once
// A loopback TCP port that nothing listens on now, as the kernel picks it (bind to port 0).
// Racy by nature: the caller hands it to a process that binds it moments later.
#include <cstdint>

namespace fwbench {

// Throws std::runtime_error when no socket can be bound.
std::uint16_t FreeLoopbackPort();

}  // namespace fwbench
