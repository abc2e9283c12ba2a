#pragma once
// Errors inside components are exceptions; the CLI turns them into a message and an exit code,
// the trial runner into an `error` event. UsageError means the user can fix it (exit code 2).
#include <stdexcept>
#include <string>

namespace fwbench {

// Bad input: a malformed plan, a missing or corrupt file, an unknown name. The message names
// the file or field, what was expected and how to fix it.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A file fwbench must write could not be written: a full disk, a read-only folder, no
// permission. The user can fix it (exit code 2), and what was measured before it is on disk
// already. The message names the file and the system's reason (strerror).
class WriteError : public UsageError {
 public:
  using UsageError::UsageError;
};

// "cannot write FILE: No space left on device (free space, or give --out another disk)" from an
// errno; the hint only where the reason has one.
std::string WriteErrorMessage(const std::string& path, int error_number);

// Exit codes of the fwbench CLI.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // something went wrong while running
inline constexpr int kExitUsage = 2;    // the user's input is wrong

}  // namespace fwbench
