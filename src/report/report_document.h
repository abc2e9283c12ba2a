#pragma once
// The report as a document: sections of paragraphs, tables, lists, charts and preformatted
// text, with no markup. report.md and report.html are two renderings of the same document, so
// they always say the same thing.
#include <string>
#include <variant>
#include <vector>

namespace fwbench::report {

struct Paragraph {
  std::string text;
};

// A highlighted paragraph: an incomplete run, a parity failure, a chart that did not render.
struct Notice {
  enum class Level { kInfo, kWarning };
  Level level = Level::kWarning;
  std::string text;
};

struct Table {
  std::string caption;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::string id;  // HTML id and test hook, e.g. "snapshot-train"
};

struct List {
  std::vector<std::string> items;
};

// A chart rendered to SVG; `svg` is empty and `error` says why when it could not be rendered.
struct Chart {
  std::string id;     // also the file name: charts/<id>.svg
  std::string title;  // what the chart shows, with its units
  std::string svg;
  std::string error;
  std::string note;  // how to read it (e.g. what the whiskers are)
};

struct Preformatted {
  std::string text;
};

using Block = std::variant<Paragraph, Notice, Table, List, Chart, Preformatted>;

struct Section {
  std::string title;
  std::string id;
  std::vector<Block> blocks;
};

struct Document {
  std::string title;
  std::string subtitle;
  std::vector<Section> sections;
};

// report.md: GitHub-flavoured Markdown; charts as images from `charts/<id>.svg`.
std::string RenderMarkdown(const Document& doc);

// report.html: one self-contained page (inline CSS and SVG; no script, nothing fetched).
std::string RenderHtml(const Document& doc);

}  // namespace fwbench::report
