#include <fmt/format.h>

#include <string>
#include <string_view>

#include "report/report_document.h"

namespace fwbench::report {

namespace {

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void ReplaceAll(std::string& s, std::string_view from, std::string_view to) {
  for (std::size_t pos = s.find(from); pos != std::string::npos;
       pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

// Several SVGs inline in one page share one id space; each renderer numbers its clip paths and
// gradients from 1, so they are prefixed with the chart's id.
std::string ScopeSvgIds(std::string svg, const std::string& prefix) {
  ReplaceAll(svg, "id=\"", "id=\"" + prefix + "-");
  ReplaceAll(svg, "url(#", "url(#" + prefix + "-");
  ReplaceAll(svg, "href=\"#", "href=\"#" + prefix + "-");
  return svg;
}

std::string Render(const Paragraph& p) { return fmt::format("<p>{}</p>\n", Escape(p.text)); }

std::string Render(const Notice& n) {
  return fmt::format("<div class=\"notice {}\"><strong>{}</strong> {}</div>\n",
                     n.level == Notice::Level::kWarning ? "warning" : "info",
                     n.level == Notice::Level::kWarning ? "Warning:" : "Note:", Escape(n.text));
}

// "16.50 [14.66–39.87]" → the median, with its CI on a smaller second line, so that wide tables
// of figures stay readable without losing the interval. Only cells that are one figure and its
// CI ("4.59× [3.64–5.60]", "13 [9–never]"): prose that quotes a CI stays prose.
std::string Cell(const std::string& text) {
  const std::size_t open = text.find(" [");
  if (open == std::string::npos || text.back() != ']' || text.find(' ') < open ||
      text.find("–", open) == std::string::npos) {
    return Escape(text);
  }
  return fmt::format("{}<span class=\"ci\">{}</span>", Escape(text.substr(0, open)),
                     Escape(text.substr(open + 1)));
}

std::string Render(const Table& t) {
  std::string out = "<div class=\"table-wrap\"><table";
  if (!t.id.empty()) out += fmt::format(" id=\"{}\"", Escape(t.id));
  out += ">\n";
  if (!t.caption.empty()) out += fmt::format("<caption>{}</caption>\n", Escape(t.caption));
  out += "<thead><tr>";
  for (const std::string& h : t.header) out += fmt::format("<th>{}</th>", Escape(h));
  out += "</tr></thead>\n<tbody>\n";
  for (const auto& row : t.rows) {
    out += "<tr>";
    for (const std::string& cell : row) out += fmt::format("<td>{}</td>", Cell(cell));
    out += "</tr>\n";
  }
  return out + "</tbody></table></div>\n";
}

std::string Render(const List& l) {
  std::string out = "<ul>\n";
  for (const std::string& item : l.items) out += fmt::format("<li>{}</li>\n", Escape(item));
  return out + "</ul>\n";
}

std::string Render(const Chart& c) {
  std::string out = fmt::format("<figure class=\"chart\" id=\"chart-{}\">\n", Escape(c.id));
  if (c.svg.empty()) {
    out += fmt::format("<div class=\"notice warning\">Chart not rendered: {}</div>\n",
                       Escape(c.error));
  } else {
    out += ScopeSvgIds(c.svg, "chart-" + c.id) + "\n";
  }
  // The SVG carries the title; the caption says how to read the chart.
  out += fmt::format("<figcaption>{}</figcaption>\n</figure>\n",
                     Escape(c.note.empty() ? c.title : c.note));
  return out;
}

std::string Render(const Preformatted& p) { return fmt::format("<pre>{}</pre>\n", Escape(p.text)); }

constexpr std::string_view kStyle = R"(
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1200px; padding: 16px 24px; color: #1d1d1f; }
h1 { font-size: 24px; margin-bottom: 4px; }
h2 { font-size: 19px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 32px; }
.subtitle { color: #555; margin-top: 0; }
.table-wrap { overflow-x: auto; margin: 8px 0 16px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border: 1px solid #d0d0d0; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tbody tr:nth-child(even) { background: #fafafa; }
.notice { border-left: 4px solid #888; background: #f5f5f5; padding: 6px 10px; margin: 8px 0; }
.notice.warning { border-color: #d97706; background: #fff7e6; }
figure.chart { margin: 12px 0 20px; }
figure.chart svg { max-width: 100%; height: auto; }
figcaption { color: #444; font-size: 13px; }
.ci { display: block; font-size: 11px; color: #666; white-space: nowrap; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; font-size: 12px; }
nav ul { columns: 2; }
)";

}  // namespace

std::string RenderHtml(const Document& doc) {
  std::string out = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      // Nothing may be fetched or run: the page is the whole report, viewable offline.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
      "'unsafe-inline'; img-src data:\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
      Escape(doc.title), kStyle, Escape(doc.title));
  if (!doc.subtitle.empty()) {
    out += fmt::format("<p class=\"subtitle\">{}</p>\n", Escape(doc.subtitle));
  }
  out += "<nav><ul>\n";
  for (const Section& s : doc.sections) {
    out += fmt::format("<li><a href=\"#{}\">{}</a></li>\n", Escape(s.id), Escape(s.title));
  }
  out += "</ul></nav>\n";
  for (const Section& s : doc.sections) {
    out += fmt::format("<section id=\"{}\">\n<h2>{}</h2>\n", Escape(s.id), Escape(s.title));
    for (const Block& b : s.blocks) {
      out += std::visit([](const auto& block) { return Render(block); }, b);
    }
    out += "</section>\n";
  }
  return out + "</body>\n</html>\n";
}

}  // namespace fwbench::report
