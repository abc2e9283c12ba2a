#include "report/llm_export_section.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <set>
#include <vector>

namespace fwbench::report {

namespace {

std::string Rate(const nlohmann::json& row, const char* key) {
  if (!row.contains(key)) return "";
  const double v = row[key].get<double>();
  return v >= 100 ? fmt::format("{:.0f}", v) : fmt::format("{:.3g}", v);
}

// The logits' verdict, or why the row has none: the converter's or runtime's first line.
std::string Outcome(const nlohmann::json& row) {
  if (!row.contains("parity")) {
    return fmt::format("{} failed: {}", row.value("stage", "run"), row.value("reason", ""));
  }
  return fmt::format("{}, max |Δ| {:.2g}", row.value("parity", ""),
                     row.value("logits_max_abs", 0.0));
}

std::string Changes(const nlohmann::json& row) {
  const std::size_t n = row.value("changes", nlohmann::json::array()).size();
  return n == 0 ? "no" : fmt::format("{} change{}", n, n == 1 ? "" : "s");
}

}  // namespace

Table LlmExportTable(const nlohmann::json& matrix) {
  Table t{"Export portability of the fine-tuned model",
          {"from", "export", "converter", "step changed", "runtime", "loads", "logits vs LibTorch",
           fmt::format("greedy {} tokens", matrix.value("new_tokens", 0)), "prefill tokens/s",
           "decode tokens/s"},
          {},
          "llm-export"};
  const nlohmann::json& ref = matrix.value("reference", nlohmann::json::object());
  if (!ref.empty()) {
    t.rows.push_back({"merged checkpoint", "-", "-", "-", ref.value("runtime", "libtorch"), "yes",
                      "reference", "reference", Rate(ref, "prefill_tokens_per_s"),
                      Rate(ref, "decode_tokens_per_s")});
  }
  const std::int64_t n = matrix.value("new_tokens", 0);
  for (const nlohmann::json& row : matrix.value("rows", nlohmann::json::array())) {
    const bool ran = row.contains("parity");
    std::string tokens;
    if (ran) {
      tokens = row.value("tokens_equal", false)
                   ? "equal"
                   : fmt::format("first {} of {} equal", row.value("tokens_matching", 0), n);
    }
    t.rows.push_back({row.value("framework", ""), row.value("export", ""),
                      row.value("converter", ""), Changes(row),
                      row.value("runtime_version", "").empty() ? row.value("runtime", "")
                                                               : row.value("runtime_version", ""),
                      row.value("loads", false) ? "yes" : "no", Outcome(row), tokens,
                      Rate(row, "prefill_tokens_per_s"), Rate(row, "decode_tokens_per_s")});
  }
  return t;
}

std::string LlmExportVerdict(const nlohmann::json& matrix) {
  // Per framework: the runtimes its fine-tuned model reaches with LibTorch's logits and tokens,
  // and the changes its exported step needed on the way (fewer is better at equal reach). Rows
  // whose worker cannot run here measured nothing and count for no one.
  struct Reach {
    std::string name;
    std::set<std::string> runtimes, changes;
    int works = 0, paths = 0;
  };
  std::map<std::string, Reach> by_framework;
  std::set<std::string> unmeasured;
  for (const nlohmann::json& row : matrix.value("rows", nlohmann::json::array())) {
    const std::string name = row.value("framework", "");
    if (!row.value("measured", true)) {
      unmeasured.insert(fmt::format("{} → {}", row.value("export", ""), row.value("runtime", "")));
      continue;
    }
    Reach& r = by_framework[name];
    r.name = name;
    ++r.paths;
    if (!row.value("works", false)) continue;
    ++r.works;
    const std::string runtime = row.value("runtime", "");
    r.runtimes.insert(runtime == "aoti" || runtime == "torchscript" || runtime == "libtorch"
                          ? "LibTorch"
                          : runtime);
    for (const auto& c : row.value("changes", nlohmann::json::array())) r.changes.insert(c);
  }
  if (by_framework.empty()) return "export portability: no export was measured";
  std::vector<Reach> ranked;
  ranked.reserve(by_framework.size());
  for (const auto& [name, r] : by_framework) ranked.push_back(r);
  const auto key = [](const Reach& r) {
    return std::pair{r.runtimes.size(), -static_cast<std::ptrdiff_t>(r.changes.size())};
  };
  std::stable_sort(ranked.begin(), ranked.end(),
                   [&](const Reach& a, const Reach& b) { return key(a) > key(b); });
  std::vector<std::string> parts;
  parts.reserve(ranked.size());
  for (const Reach& r : ranked) {
    parts.push_back(fmt::format(
        "{} reaches {} runtime(s) ({}) with {} change(s) to its exported step, {} of {} paths "
        "work",
        r.name, r.runtimes.size(),
        r.runtimes.empty() ? "none" : fmt::format("{}", fmt::join(r.runtimes, ", ")),
        r.changes.size(), r.works, r.paths));
  }
  std::string evidence = fmt::format("{}", fmt::join(parts, "; "));
  if (!unmeasured.empty()) {
    evidence += fmt::format(" (not measured here: {})", fmt::join(unmeasured, ", "));
  }
  if (!matrix.value("complete", true)) evidence += " (the matrix did not finish)";
  if (ranked.size() < 2) return fmt::format("export portability: {}", evidence);
  if (key(ranked[0]) == key(ranked[1])) {
    return fmt::format("export portability: tie — {}", evidence);
  }
  return fmt::format("pick {} if you care about export portability: {}", ranked[0].name, evidence);
}

Section LlmExportSection(const nlohmann::json& matrix) {
  Section s{"LLM export portability", "llm-export", {}};
  s.blocks.push_back(Paragraph{fmt::format(
      "`fwbench llm-export` merged the LoRA adapters trained by {} into the checkpoint and "
      "exported its generation step (tokens and a fixed-size KV cache in, last-position logits "
      "and the cache out) with each converter; every runtime that loads the file prefilled the "
      "run's first prompt ({} tokens) and generated {} tokens greedily, {} thread(s), median of "
      "{} generations after one untimed; exports: {}. The reference is the C++ model on the merged "
      "checkpoint (LibTorch eager fp32); logits pass within the parity gate's fp32 tolerance "
      "(docs/llm.md).",
      matrix.value("from", "?"), matrix.value("prompt_tokens", 0), matrix.value("new_tokens", 0),
      matrix.value("threads", 0), matrix.value("repeats", 0),
      fmt::join(matrix.value("exports", std::vector<std::string>{}), ", "))});
  std::set<std::string> changes;
  for (const nlohmann::json& row : matrix.value("rows", nlohmann::json::array())) {
    for (const auto& c : row.value("changes", nlohmann::json::array())) changes.insert(c);
  }
  if (!changes.empty()) {
    s.blocks.push_back(Paragraph{
        "\"Step changed\": the exported step differs from the port's own computation so that the "
        "converter takes it (the -port rows export it unchanged):"});
    s.blocks.push_back(List{{changes.begin(), changes.end()}});
  }
  s.blocks.push_back(Paragraph{
      "The reference row's speed is the C++ model's own generation (its cache written in place, "
      "attention over the positions filled so far, the output head over every prompt position), "
      "not an exported step, which attends over the whole fixed-size cache and returns a new "
      "cache each call: compare the export rows with each other."});
  if (!matrix.value("complete", true)) {
    s.blocks.push_back(Notice{Notice::Level::kWarning,
                              "the matrix did not finish: the rows below are those it measured"});
  }
  s.blocks.push_back(Paragraph{LlmExportVerdict(matrix)});
  s.blocks.push_back(LlmExportTable(matrix));
  return s;
}

}  // namespace fwbench::report
