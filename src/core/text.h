#pragma once
// Small text helpers shared across layers.
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace fwbench {

// ASCII lower case (HTTP header names, CPU flags).
inline std::string ToLower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace fwbench
