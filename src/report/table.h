#pragma once
// The terminal view of a results.json: configuration × metric, medians with 95% CIs, then
// failed trials and warnings.
#include <string>

#include <nlohmann/json.hpp>

namespace fwbench {

std::string FormatTable(const nlohmann::json& results);

}  // namespace fwbench
