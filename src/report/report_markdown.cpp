#include <fmt/format.h>

#include <string>

#include "report/report_document.h"

namespace fwbench::report {

namespace {

// Table cells and list items are single lines in Markdown: a '|' would split a cell and a line
// break would end the table.
std::string Inline(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string Render(const Paragraph& p) { return p.text + "\n\n"; }

std::string Render(const Notice& n) {
  return fmt::format("> **{}** {}\n\n",
                     n.level == Notice::Level::kWarning ? "Warning:" : "Note:", Inline(n.text));
}

std::string Render(const Table& t) {
  std::string out;
  if (!t.caption.empty()) out += fmt::format("*{}*\n\n", Inline(t.caption));
  std::string line = "|";
  std::string rule = "|";
  for (const std::string& h : t.header) {
    line += " " + Inline(h) + " |";
    rule += "---|";
  }
  out += line + "\n" + rule + "\n";
  for (const auto& row : t.rows) {
    line = "|";
    for (const std::string& cell : row) line += " " + Inline(cell) + " |";
    out += line + "\n";
  }
  return out + "\n";
}

std::string Render(const List& l) {
  std::string out;
  for (const std::string& item : l.items) out += "- " + Inline(item) + "\n";
  return out + "\n";
}

std::string Render(const Chart& c) {
  if (c.svg.empty()) {
    return fmt::format("*{}: not rendered ({})*\n\n", Inline(c.title), Inline(c.error));
  }
  std::string out = fmt::format("![{}](charts/{}.svg)\n\n", Inline(c.title), c.id);
  if (!c.note.empty()) out += fmt::format("*{}*\n\n", Inline(c.note));
  return out;
}

std::string Render(const Preformatted& p) {
  std::string fence = "```";
  while (p.text.find(fence) != std::string::npos) fence += '`';
  return fmt::format("{}\n{}{}{}\n\n", fence, p.text,
                     p.text.empty() || p.text.back() == '\n' ? "" : "\n", fence);
}

}  // namespace

std::string RenderMarkdown(const Document& doc) {
  std::string out = fmt::format("# {}\n\n", doc.title);
  if (!doc.subtitle.empty()) out += doc.subtitle + "\n\n";
  for (const Section& s : doc.sections) {
    out += fmt::format("## {}\n\n", s.title);
    for (const Block& b : s.blocks) {
      out += std::visit([](const auto& block) { return Render(block); }, b);
    }
  }
  return out;
}

}  // namespace fwbench::report
