#include "core/bounded_json.h"

#include <fmt/format.h>

#include <stdexcept>

namespace fwbench {

std::optional<std::size_t> JsonTooDeepAt(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, whatever it is
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) return i;
        break;
      case ']':
      case '}':
        // Unbalanced closers are the parser's to report; the depth never goes below zero, so
        // "]]]][[[[" cannot hide four levels.
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return std::nullopt;
}

std::string JsonTooDeepMessage(std::size_t at, int max_depth) {
  return fmt::format("JSON nests arrays or objects more than {} levels deep (at byte {})",
                     max_depth, at);
}

nlohmann::json ParseJsonOrDiscard(std::string_view text, int max_depth) {
  if (JsonTooDeepAt(text, max_depth)) return nlohmann::json(nlohmann::json::value_t::discarded);
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

nlohmann::json ParseBoundedJson(std::string_view text, int max_depth) {
  if (const auto at = JsonTooDeepAt(text, max_depth)) {
    throw std::invalid_argument(JsonTooDeepMessage(*at, max_depth));
  }
  return nlohmann::json::parse(text);
}

}  // namespace fwbench
