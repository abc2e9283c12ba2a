#include "analysis/dx_error.h"

#include "core/text.h"

#include <algorithm>
#include <filesystem>
#include <regex>
#include <sstream>
#include <vector>

namespace fwbench {

namespace {

std::string WithoutColour(std::string_view text) {
  static const std::regex escape("\x1b\\[[0-9;]*[A-Za-z]");
  return std::regex_replace(std::string(text), escape, "");
}

bool StartsWith(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

std::string Trimmed(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  const auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string RegexQuoted(const std::string& s) {
  static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  return std::regex_replace(s, special, R"(\$&)");
}

std::vector<std::string> NonEmptyLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!Trimmed(line).empty()) lines.push_back(line);
  }
  return lines;
}

// `line` is `Type: …` or `package.module.Type: …` (or the bare type) for `exception` = "Type".
bool NamesExceptionType(const std::string& line, const std::string& exception) {
  const std::string head = line.substr(0, line.find(':'));
  if (head.size() < exception.size() || head.find(' ') != std::string::npos) return false;
  const std::size_t at = head.size() - exception.size();
  return head.compare(at, std::string::npos, exception) == 0 && (at == 0 || head[at - 1] == '.');
}

}  // namespace

ErrorTextStats MeasureErrorText(std::string_view raw, const std::string& culprit_pattern,
                                const std::string& port_file, std::size_t error_offset,
                                const std::string& exception) {
  ErrorTextStats s;
  const std::string text = WithoutColour(raw);
  const std::vector<std::string> lines = NonEmptyLines(text);
  const std::vector<std::string> own =
      NonEmptyLines(WithoutColour(raw.substr(std::min(error_offset, raw.size()))));
  s.lines = static_cast<int>(lines.size());
  s.characters = static_cast<int>(Utf8Length(text));
  static const std::regex python_frame(R"(File "[^"]+", line \d+)");
  static const std::regex cpp_frame(R"(^\s*frame #\d+:)");
  static const std::regex js_frame(R"(^\s+at \S)");
  // Frames, the source lines Python quotes under its frames (and their ^^^ marks), and the
  // rest: the message, which is what may name the culprit by itself.
  std::vector<bool> message(lines.size(), true);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    std::smatch m;
    if (std::regex_search(l, m, python_frame)) {
      ++s.frames;
      message[i] = false;
      // The quoted source line: the frame line's prefix (a log prefix, or indentation), then
      // more indentation.
      const auto at = static_cast<std::size_t>(m.position(0));
      if (i + 1 < lines.size() && lines[i + 1].size() > at &&
          lines[i + 1].compare(0, at, l, 0, at) == 0 && lines[i + 1][at] == ' ' &&
          !std::regex_search(lines[i + 1], python_frame)) {
        message[i + 1] = false;
      }
    } else if (std::regex_search(l, cpp_frame) || std::regex_search(l, js_frame)) {
      ++s.frames;
      message[i] = false;
    } else if (Trimmed(l).find_first_not_of("^~") == std::string::npos) {
      message[i] = false;
    }
  }
  for (const std::string& l : own) {
    if (!exception.empty() && NamesExceptionType(l, exception)) s.headline = Trimmed(l);
  }
  std::size_t traceback = own.size();
  for (std::size_t i = 0; i < own.size(); ++i) {
    if (StartsWith(own[i], "Traceback (most recent call last):")) traceback = i;
  }
  for (std::size_t i = traceback + 1; s.headline.empty() && i < own.size(); ++i) {
    if (own[i][0] != ' ' && own[i][0] != '\t') {
      s.headline = Trimmed(own[i]);
      break;
    }
  }
  if (s.headline.empty() && !own.empty()) s.headline = Trimmed(own.front());
  // Line by line: libstdc++'s std::regex recurses per character of a match attempt.
  const std::regex culprit(culprit_pattern.empty() ? "$^" : culprit_pattern,
                           std::regex::ECMAScript | std::regex::icase);
  const std::string name = std::filesystem::path(port_file).filename().string();
  const std::regex at_line(name.empty() ? "$^" : RegexQuoted(name) + R"(("?, line \d+|:\d+))");
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const bool named = !culprit_pattern.empty() && std::regex_search(lines[i], culprit);
    s.names_culprit = s.names_culprit || (named && message[i]);
    s.trace_names_culprit = s.trace_names_culprit || named;
    s.names_port_line =
        s.names_port_line || (!name.empty() && std::regex_search(lines[i], at_line));
  }
  return s;
}

}  // namespace fwbench
