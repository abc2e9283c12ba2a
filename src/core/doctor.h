#pragma once
// `fwbench doctor`: turns an environment fingerprint into things the user should fix before
// trusting a timing. A pure function over the fingerprint JSON, so every rule is unit-testable
// with a synthetic fingerprint and the same rules can be re-run on an old results file.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fwbench {

struct Finding {
  enum class Level { kInfo, kWarning };
  Level level;
  std::string what;  // what is wrong and what it does to the numbers
  std::string fix;   // what to run or change; may be empty
  std::string id;    // stable name of the rule ("blas.reference"), for tests and scripts
};

// Checks a fingerprint from CollectEnvFingerprint(), optionally with CollectLibtorchInfo()'s
// result stored under the key libtorch (its "blas" then takes precedence over the
// fingerprint's own, since it is taken after a matmul has made LibTorch load its BLAS).
// threads_requested is the intra-op thread count the benchmark will use; <= 0 means "not
// chosen", which skips the thread-count rules. Missing or null fields skip their rule.
// Findings come in a fixed rule order.
std::vector<Finding> Diagnose(const nlohmann::json& fingerprint, int threads_requested);

// One line per finding for the terminal: "warning: <what> (fix: <fix>)" or "note: ...".
// "no problems found\n" when there are none.
std::string FormatFindings(const std::vector<Finding>& findings);

}  // namespace fwbench
