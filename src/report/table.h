#pragma once
// The terminal view of a run's results: configuration × metric, medians with 95% CIs, then
// failed trials and warnings.
#include <string>

#include "analysis/run_results.h"

namespace fwbench {

std::string FormatTable(const RunResults& results);

}  // namespace fwbench
