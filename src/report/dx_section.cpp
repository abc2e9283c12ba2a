#include "report/dx_section.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <tuple>
#include <vector>

#include "analysis/stats.h"
#include "core/text.h"
#include "report/result_cells.h"

namespace fwbench::report {

namespace {

constexpr std::size_t kHeadlineChars = 160;

struct Tally {
  std::string name;  // backend/mode
  int applicable = 0, errors = 0, culprit = 0, port_line = 0;
  int traced = 0;  // the culprit only in a quoted source line of the user's code
  int warned = 0;  // no error, but the framework printed something that names the culprit
  int failed = 0;  // the port could not run the case: fwbench's problem, not counted
  bool trains = false;
  std::vector<int> lines;
  std::vector<std::string> silent;  // faults nobody but fwbench's loop (or no one) reported

  double Share(int n) const { return applicable == 0 ? 0.0 : static_cast<double>(n) / applicable; }
  auto Rank() const { return std::make_tuple(Share(errors), Share(culprit), Share(port_line)); }
  double MedianLines() const { return stats::Median({lines.begin(), lines.end()}); }
};

std::string Name(const nlohmann::json& c) {
  return c.value("backend", "?") + "/" + c.value("mode", "?");
}

std::vector<Tally> Tallies(const nlohmann::json& dx) {
  std::vector<Tally> out;
  std::map<std::string, std::size_t> index;
  for (const nlohmann::json& c : dx.value("cases", nlohmann::json::array())) {
    const std::string name = Name(c);
    if (!index.contains(name)) {
      index[name] = out.size();
      Tally t;
      t.name = name;
      out.push_back(std::move(t));
    }
    Tally& t = out[index[name]];
    t.trains = t.trains || c.value("trains", false);
    const std::string outcome = c.value("outcome", "");
    if (outcome == "n/a") continue;
    if (outcome == "failed") {
      ++t.failed;
      continue;
    }
    ++t.applicable;
    if (outcome == "error") {
      ++t.errors;
      t.culprit += c.value("names_culprit", false) ? 1 : 0;
      t.traced += !c.value("names_culprit", false) && c.value("trace_names_culprit", false) ? 1 : 0;
      t.port_line += c.value("names_port_line", false) ? 1 : 0;
      t.lines.push_back(c.value("lines", 0));
    } else {
      t.silent.push_back(c.value("fault", "?"));
      t.warned += c.value("lines", 0) > 0 && c.value("names_culprit", false) ? 1 : 0;
    }
  }
  return out;
}

// The message names the culprit ("yes"), only a quoted source line does ("its line"), or not.
std::string Culprit(const nlohmann::json& c) {
  if (c.value("names_culprit", false)) return "yes";
  if (c.value("trace_names_culprit", false)) return "its line";
  return c.value("outcome", "") == "error" ? "no" : "-";
}

std::string Yes(const nlohmann::json& c, const char* key) {
  if (c.value("outcome", "") != "error")
    return c.value("lines", 0) > 0 && c.value(key, false) ? "yes" : "-";
  return c.value(key, false) ? "yes" : "no";
}

std::string Shortened(const std::string& s) { return Utf8Prefix(s, kHeadlineChars - 1); }

}  // namespace

Table DxSummaryTable(const nlohmann::json& dx) {
  Table t{"",
          {"framework", "faults", "reported with an error", "message names the culprit",
           "only the traceback's source line does", "names the port's line", "median lines",
           "no error raised", "of those, warned naming the culprit",
           "could not run (fwbench's problem)"},
          {},
          "dx-summary"};
  for (const Tally& s : Tallies(dx)) {
    t.rows.push_back({s.name, std::to_string(s.applicable),
                      fmt::format("{} of {}", s.errors, s.applicable), std::to_string(s.culprit),
                      std::to_string(s.traced), std::to_string(s.port_line),
                      s.lines.empty() ? "-" : FormatNumber(s.MedianLines()),
                      s.silent.empty() ? "-" : fmt::format("{}", fmt::join(s.silent, ", ")),
                      std::to_string(s.warned), std::to_string(s.failed)});
  }
  return t;
}

Table DxCaseTable(const nlohmann::json& dx) {
  Table t{"",
          {"framework", "fault", "outcome", "steps", "s", "lines", "chars", "frames",
           "names culprit", "names port line", "first line a user reads (or what happened)"},
          {},
          "dx-cases"};
  for (const nlohmann::json& c : dx.value("cases", nlohmann::json::array())) {
    const std::string outcome = c.value("outcome", "?");
    std::string outcome_cell = outcome;
    if (outcome == "error" && c.contains("exception"))
      outcome_cell += " (" + c.value("exception", "") + ")";
    std::string said = c.value("headline", "");
    if (outcome == "loop") said = "fwbench's loop: " + c.value("detail", "");
    if (outcome == "n/a") said = c.value("detail", "");
    if (outcome != "error" && outcome != "loop" && outcome != "n/a") {
      said = said.empty() ? c.value("detail", "")
                          : fmt::format("{} — printed: {}", c.value("detail", ""), said);
    }
    const bool ran = outcome != "n/a";
    t.rows.push_back(
        {Name(c), c.value("fault", "?"), outcome_cell,
         ran ? std::to_string(c.value("steps", 0)) : "-",
         c.contains("seconds") ? fmt::format("{:.2f}", c["seconds"].get<double>()) : "-",
         ran ? std::to_string(c.value("lines", 0)) : "-",
         ran ? std::to_string(c.value("characters", 0)) : "-",
         ran ? std::to_string(c.value("frames", 0)) : "-", ran ? Culprit(c) : "-",
         ran ? Yes(c, "names_port_line") : "-", Shortened(said)});
  }
  return t;
}

std::string DxVerdict(const nlohmann::json& dx) {
  std::vector<Tally> ranked;
  int failed = 0;
  for (const Tally& t : Tallies(dx)) {
    failed += t.failed;
    // The runtimes meet the input faults only: they are listed, not ranked with those that train.
    if (t.trains && t.applicable > 0) ranked.push_back(t);
  }
  if (failed > 0) {
    return fmt::format(
        "no verdict: {} case(s) could not run (outcome failed: fwbench's problem, "
        "see their detail)",
        failed);
  }
  if (ranked.size() < 2) {
    return "no verdict: fewer than two frameworks that train met the faults here";
  }
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const Tally& a, const Tally& b) { return a.Rank() > b.Rank(); });
  std::vector<std::string> tied = {ranked[0].name};
  for (std::size_t i = 1; i < ranked.size() && ranked[i].Rank() == ranked[0].Rank(); ++i) {
    tied.push_back(ranked[i].name);
  }
  const Tally& w = ranked[0];
  const std::string how = fmt::format(
      "reported {} of {} faults with an error, its message naming the culprit in {} and the "
      "port's source "
      "line in {}",
      w.errors, w.applicable, w.culprit, w.port_line);
  const std::string proxy =
      " (a proxy: whether and where the error points, not how fast a person fixes the bug)";
  if (tied.size() > 1) {
    return fmt::format("no single pick for debuggability: {} tie; each {}{}", fmt::join(tied, ", "),
                       how, proxy);
  }
  return fmt::format("pick {} if you care about debuggability: it {}; next, {} {}{}", w.name, how,
                     ranked[1].name,
                     fmt::format("{} of {}, culprit {}, line {}", ranked[1].errors,
                                 ranked[1].applicable, ranked[1].culprit, ranked[1].port_line),
                     proxy);
}

Section DxSection(const nlohmann::json& dx) {
  Section s{"Developer experience", "dx", {}};
  s.blocks.push_back(Paragraph{
      "The same bugs injected into every framework (`fwbench dx`, docs/dx.md), each in a fresh "
      "process: whether the framework reported the fault, after how many steps and seconds, how "
      "long its message was, whether the message named the culprit (or only the traceback's quote "
      "of the user's line did: \"its line\") and whether it named the port's source line, and "
      "the first line a user reads. \"loop\": the loss stopped being finite and only fwbench's "
      "own check said so."});
  s.blocks.push_back(Paragraph{DxVerdict(dx)});
  s.blocks.push_back(DxSummaryTable(dx));
  s.blocks.push_back(DxCaseTable(dx));
  return s;
}

}  // namespace fwbench::report
