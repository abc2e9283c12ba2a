#pragma once
// TOML keys bounded in depth before toml++ sees them. toml++ bounds nested values (arrays and
// inline tables, 256 levels) but not dotted keys: `a.a.a…a = 1` with 100,000 parts builds a
// table per part and tears them down recursively, and `fwbench run` died of a stack overflow
// (SIGSEGV) on such a plan (issue 17). Plans and model configs are read through this first.
#include <cstddef>
#include <optional>
#include <string_view>

namespace fwbench {

inline constexpr int kMaxTomlKeyParts = 64;

// The 1-based line of the first key (`a.b.c = …`, a `[a.b.c]` or `[[a.b.c]]` header, or a key
// inside an inline table) with more than `max_parts` dot-separated parts; nullopt when none
// has. Dots inside quoted keys and strings do not count.
std::optional<std::size_t> TomlKeyTooDeepAt(std::string_view text,
                                            int max_parts = kMaxTomlKeyParts);

}  // namespace fwbench
