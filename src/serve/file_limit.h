#pragma once
// Every connection is a file descriptor: a server that accepts more connections than the
// process may open fails on accept (EMFILE) instead of refusing cleanly at its own limit.
#include <cstddef>
#include <string>

namespace fwbench::serve {

struct ConnectionLimit {
  std::size_t connections = 0;  // what the server may hold open
  std::string note;             // why it is below what was asked; empty when it is not
};

// Raises the process's soft open-file limit to its hard limit (as servers do at start), then
// returns `wanted`, or fewer where the limit leaves room for fewer (64 descriptors are kept for
// models, logs and libraries).
ConnectionLimit FitConnectionsToFileLimit(std::size_t wanted);

}  // namespace fwbench::serve
