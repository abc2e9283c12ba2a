#pragma once
// JSON parsed with its nesting depth bounded. nlohmann's parser is iterative, but copying,
// comparing, dumping and every walk over the tree (the server flattening a tensor's nested
// lists, say) recurse: a 60 KB body of 30,000 '[' overflowed the stack of an HTTP thread
// (issue 17). So every JSON that fwbench reads from outside (requests, worker events, results,
// checkpoints' configs) is first scanned for its depth, which is cheap (one pass over the
// bytes, no allocation), and refused past the bound before any tree is built.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace fwbench {

// Deep enough for any tensor (a rank-32 nested list inside a request object) and for every
// file fwbench writes; far below what a thread's stack survives.
inline constexpr int kMaxJsonDepth = 64;

// The byte offset of the '[' or '{' that opens nesting level max_depth + 1; nullopt when the
// text never nests that deep. Brackets inside strings do not count.
std::optional<std::size_t> JsonTooDeepAt(std::string_view text, int max_depth = kMaxJsonDepth);

// "nests arrays/objects deeper than 64 levels (at byte 1234)"; for error messages.
std::string JsonTooDeepMessage(std::size_t at, int max_depth = kMaxJsonDepth);

// nlohmann::json::parse(text, nullptr, false), but also discarded when the text nests deeper
// than `max_depth`.
nlohmann::json ParseJsonOrDiscard(std::string_view text, int max_depth = kMaxJsonDepth);

// nlohmann::json::parse(text), throwing nlohmann::json::parse_error as it does, and
// std::invalid_argument (JsonTooDeepMessage) when the text nests deeper than `max_depth`.
nlohmann::json ParseBoundedJson(std::string_view text, int max_depth = kMaxJsonDepth);

}  // namespace fwbench
