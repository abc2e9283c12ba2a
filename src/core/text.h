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

// The first `max_bytes` bytes of `s` or fewer, never splitting a UTF-8 character; "…" appended
// when it was cut.
inline std::string Utf8Prefix(const std::string& s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  std::size_t n = max_bytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n) + "…";
}

// Characters of UTF-8 text: bytes that do not continue a character.
inline std::size_t Utf8Length(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace fwbench
