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
  // Runtimes a framework's model reaches with LibTorch's logits and tokens: as its port computes
  // it, and only after changing the exported step for a converter.
  struct Reach {
    std::string name;
    std::set<std::string> as_is, changed;
    int works = 0, paths = 0;
  };
  std::map<std::string, Reach> by_framework;
  for (const nlohmann::json& row : matrix.value("rows", nlohmann::json::array())) {
    const std::string name = row.value("framework", "");
    Reach& r = by_framework[name];
    r.name = name;
    ++r.paths;
    if (!row.value("works", false)) continue;
    ++r.works;
    const std::string runtime = row.value("runtime", "");
    const std::string family =
        runtime == "aoti" || runtime == "torchscript" || runtime == "libtorch" ? "LibTorch"
                                                                               : runtime;
    (row.value("changes", nlohmann::json::array()).empty() ? r.as_is : r.changed).insert(family);
  }
  if (by_framework.empty()) return "export portability: no export was run";
  std::vector<Reach> ranked;
  for (auto& [name, r] : by_framework) {
    for (const std::string& f : r.as_is) r.changed.erase(f);
    ranked.push_back(r);
  }
  const auto key = [](const Reach& r) {
    return std::pair{r.as_is.size(), r.as_is.size() + r.changed.size()};
  };
  std::stable_sort(ranked.begin(), ranked.end(),
                   [&](const Reach& a, const Reach& b) { return key(a) > key(b); });
  std::vector<std::string> parts;
  for (const Reach& r : ranked) {
    std::string part =
        fmt::format("{} runs in {} runtime(s) as its port computes it ({})", r.name, r.as_is.size(),
                    r.as_is.empty() ? "none" : fmt::format("{}", fmt::join(r.as_is, ", ")));
    if (!r.changed.empty()) {
      part += fmt::format(" and {} more with its exported step changed for the converter ({})",
                          r.changed.size(), fmt::join(r.changed, ", "));
    }
    parts.push_back(part + fmt::format("; {} of {} paths work", r.works, r.paths));
  }
  const std::string evidence = fmt::format("{}", fmt::join(parts, "; "));
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
      "{} generations after one untimed. The reference is the C++ model on the merged checkpoint "
      "(LibTorch eager fp32); logits pass within the parity gate's fp32 tolerance (docs/llm.md).",
      matrix.value("from", "?"), matrix.value("prompt_tokens", 0), matrix.value("new_tokens", 0),
      matrix.value("threads", 0), matrix.value("repeats", 0))});
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
  s.blocks.push_back(Paragraph{LlmExportVerdict(matrix)});
  s.blocks.push_back(LlmExportTable(matrix));
  return s;
}

}  // namespace fwbench::report
