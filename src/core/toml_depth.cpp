#include "core/toml_depth.h"

#include <string>

namespace fwbench {

namespace {

bool IsBareKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

}  // namespace

std::optional<std::size_t> TomlKeyTooDeepAt(std::string_view text, int max_parts) {
  // One pass over the text. Outside strings, a key is what stands between the start of a line
  // (or a '{' or ',' of an inline table, or a header's '[') and the next '=' (or the header's
  // ']'). Its dots are counted as long as it holds only key characters; anything else (a float
  // in an array, say) ends the key without counting.
  std::size_t line = 1;
  int dots = 0;
  bool in_key = true;  // at a place where a key may stand
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"' || c == '\'') {
      // A string: a quoted key part (its dots are text) or a value. Multi-line ones too.
      const bool triple = text.substr(i, 3) == std::string(3, c);
      const std::string_view close = triple ? text.substr(i, 3) : text.substr(i, 1);
      std::size_t j = i + close.size();
      while (j < text.size() && text.substr(j, close.size()) != close) {
        if (text[j] == '\n') ++line;
        if (c == '"' && text[j] == '\\') ++j;  // an escape (literal strings have none)
        ++j;
      }
      i = j + close.size() - 1;
      continue;
    }
    if (c == '#') {  // a comment, to the end of the line
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
      continue;
    }
    if (c == '\n') {
      ++line;
      dots = 0;
      in_key = true;
      continue;
    }
    if (c == '{' || c == ',' || (c == '[' && in_key)) {
      dots = 0;
      in_key = true;
      continue;
    }
    if (c == '=' || c == ']') {
      dots = 0;
      in_key = false;
      continue;
    }
    if (!in_key) continue;
    if (c == '.') {
      if (++dots >= max_parts) return line;
    } else if (!IsBareKeyChar(c) && c != ' ' && c != '\t' && c != '\r') {
      in_key = false;
    }
  }
  return std::nullopt;
}

}  // namespace fwbench
