// report.md and report.html from one document: what each format must get right (escaping,
// CIs, charts, self-containment).
#include "report/report_document.h"

#include <gtest/gtest.h>

namespace fwbench::report {
namespace {

Document Sample() {
  Document doc;
  doc.title = "fwbench report — run <1>";
  Section s{"Snapshot", "snapshot", {}};
  s.blocks.push_back(Table{"caption",
                           {"configuration", "p50 ms"},
                           {{"a|b <script>alert(1)</script>", "16.5 [14.7–39.9]"},
                            {"a 2× [1–3] speed-up", "12 [9–never]"}},
                           "snapshot-infer"});
  s.blocks.push_back(Chart{"one", "First chart",
                           "<svg id=\"clip1\"><use href=\"#clip1\"/>"
                           "<path clip-path=\"url(#clip1)\"/></svg>",
                           "", "how to read it"});
  s.blocks.push_back(Chart{"two", "Second chart", "<svg id=\"clip1\"></svg>", "", ""});
  s.blocks.push_back(Chart{"three", "Third chart", "", "node not found", ""});
  s.blocks.push_back(Preformatted{"a\n```\nb\n"});
  s.blocks.push_back(Notice{Notice::Level::kWarning, "INCOMPLETE RUN"});
  doc.sections.push_back(std::move(s));
  return doc;
}

TEST(ReportMarkdown, EscapesCellsLinksChartsAndFencesCode) {
  const std::string md = RenderMarkdown(Sample());
  EXPECT_NE(md.find("# fwbench report — run <1>\n"), std::string::npos) << md;
  EXPECT_NE(md.find("| configuration | p50 ms |\n|---|---|\n"), std::string::npos) << md;
  EXPECT_NE(md.find("| a\\|b <script>"), std::string::npos) << md;  // '|' would split the cell
  EXPECT_NE(md.find("| 16.5 [14.7–39.9] |"), std::string::npos) << md;
  EXPECT_NE(md.find("![First chart](charts/one.svg)"), std::string::npos) << md;
  EXPECT_NE(md.find("*Third chart: not rendered (node not found)*"), std::string::npos) << md;
  EXPECT_NE(md.find("````\na\n```\nb\n````"), std::string::npos) << md;  // a longer fence
  EXPECT_NE(md.find("> **Warning:** INCOMPLETE RUN"), std::string::npos) << md;
}

TEST(ReportHtml, IsSelfContainedEscapedAndScopesEachChartsIds) {
  const std::string html = RenderHtml(Sample());
  EXPECT_EQ(html.find("<script"), std::string::npos) << "no script, escaped or not";
  EXPECT_NE(html.find("a|b &lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("default-src 'none'"), std::string::npos) << "nothing may be fetched";
  EXPECT_NE(html.find("<table id=\"snapshot-infer\">"), std::string::npos);
  // The CI goes on its own line under the median.
  EXPECT_NE(html.find("<td>16.5<span class=\"ci\">[14.7–39.9]</span></td>"), std::string::npos)
      << html;
  EXPECT_NE(html.find("<td>12<span class=\"ci\">[9–never]</span></td>"), std::string::npos);
  EXPECT_NE(html.find("<td>a 2× [1–3] speed-up</td>"), std::string::npos) << "prose stays prose";
  // Both SVGs numbered their clip path 1: in one page they must not collide.
  EXPECT_NE(html.find("id=\"chart-one-clip1\""), std::string::npos);
  EXPECT_NE(html.find("href=\"#chart-one-clip1\""), std::string::npos);
  EXPECT_NE(html.find("url(#chart-one-clip1)"), std::string::npos);
  EXPECT_NE(html.find("id=\"chart-two-clip1\""), std::string::npos);
  EXPECT_EQ(html.find("id=\"clip1\""), std::string::npos);
  EXPECT_NE(html.find("<figure class=\"chart\" id=\"chart-three\">\n<div class=\"notice "
                      "warning\">Chart not rendered: node not found</div>"),
            std::string::npos)
      << html;
  EXPECT_NE(html.find("<a href=\"#snapshot\">Snapshot</a>"), std::string::npos);
}

}  // namespace
}  // namespace fwbench::report
