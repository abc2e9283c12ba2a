#include "analysis/verdict.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

namespace fwbench {

namespace {

// The metric's value in one trial record of results.json, or nothing.
std::optional<double> TrialValue(const nlohmann::json& t, const std::string& metric) {
  if (metric == "latency_p50_ms") {
    if (t.contains("latency_ms") && t["latency_ms"].contains("p50")) return t["latency_ms"]["p50"];
    return std::nullopt;
  }
  if (metric == "peak_rss_mb") {
    if (t.contains("peak_rss_bytes") && t["peak_rss_bytes"].is_number()) {
      return t["peak_rss_bytes"].get<double>() / (1024.0 * 1024.0);
    }
    return std::nullopt;
  }
  if (t.contains(metric) && t[metric].is_number()) return t[metric].get<double>();
  return std::nullopt;
}

struct Criterion {
  std::string name;
  std::string metric;
  bool higher_is_better;
  std::string task;
  std::int64_t batch;  // 0: the configuration's own (training)
};

std::string Num(double v) { return fmt::format("{:.4g}", v); }

}  // namespace

std::vector<Verdict> BuildVerdicts(const nlohmann::json& results, double threshold) {
  const auto& configs = results.at("configurations");
  std::set<std::int64_t> infer_batches;
  for (const auto& c : configs) {
    if (c.value("task", "") == "infer") infer_batches.insert(c.value("batch_size", 0));
  }
  std::vector<Criterion> criteria;
  if (!infer_batches.empty()) {
    const std::int64_t small = *infer_batches.begin();
    const std::int64_t large = *infer_batches.rbegin();
    criteria.push_back({fmt::format("cold start (time to first batch, inference batch {})", small),
                        "ttfb_s", false, "infer", small});
    criteria.push_back({fmt::format("inference latency (p50, batch {})", small), "latency_p50_ms",
                        false, "infer", small});
    criteria.push_back({fmt::format("inference throughput (batch {})", large), "samples_per_s",
                        true, "infer", large});
    criteria.push_back({fmt::format("memory (peak RSS, inference batch {})", small), "peak_rss_mb",
                        false, "infer", small});
  }
  criteria.push_back({"training throughput", "samples_per_s", true, "train", 0});

  // Per configuration, the metric's per-trial values (successful trials only).
  std::map<std::string, std::map<std::string, std::vector<double>>> values;
  for (const auto& t : results.value("trials", nlohmann::json::array())) {
    if (t.value("status", "") != "ok") continue;
    for (const Criterion& c : criteria) {
      if (const auto v = TrialValue(t, c.metric))
        values[t.value("config", "")][c.metric].push_back(*v);
    }
  }

  std::vector<Verdict> out;
  for (const Criterion& crit : criteria) {
    Verdict v;
    v.criterion = crit.name;
    v.metric = crit.metric;
    v.higher_is_better = crit.higher_is_better;
    struct Candidate {
      std::string id;
      double median;
      std::vector<double> trials;
    };
    std::vector<Candidate> candidates;
    for (const auto& c : configs) {
      if (c.value("task", "") != crit.task) continue;
      if (crit.batch != 0 && c.value("batch_size", 0) != crit.batch) continue;
      const std::string id = c.value("config", "");
      if (!c.value("ranked", false)) {
        v.excluded.push_back(fmt::format(
            "{}: not ranked (parity {})", id,
            c.contains("parity") ? c["parity"].value("status", "unchecked") : "unchecked"));
        continue;
      }
      const auto& trials = values[id][crit.metric];
      if (trials.empty()) continue;
      candidates.push_back({id, stats::Median(trials), trials});
    }
    std::sort(candidates.begin(), candidates.end(), [&](const Candidate& a, const Candidate& b) {
      return crit.higher_is_better ? a.median > b.median : a.median < b.median;
    });
    if (candidates.empty()) {
      v.evidence = "no ranked configuration measured this";
      out.push_back(std::move(v));
      continue;
    }
    v.winner = candidates[0].id;
    if (candidates.size() == 1) {
      v.evidence = fmt::format("only {} was measured: {}", v.winner, Num(candidates[0].median));
      out.push_back(std::move(v));
      continue;
    }
    const Candidate& best = candidates[0];
    const Candidate& second = candidates[1];
    v.runner_up = second.id;
    const bool positive =
        std::all_of(best.trials.begin(), best.trials.end(), [](double x) { return x > 0; }) &&
        std::all_of(second.trials.begin(), second.trials.end(), [](double x) { return x > 0; });
    if (!positive) {
      v.tie = true;
      v.evidence = "values not all positive: no ratio";
      out.push_back(std::move(v));
      continue;
    }
    v.advantage = crit.higher_is_better
                      ? stats::BootstrapRatioOfMedians(best.trials, second.trials)
                      : stats::BootstrapRatioOfMedians(second.trials, best.trials);
    v.tie = !(v.advantage.ci_lo > 1.0) || v.advantage.value - 1.0 < threshold;
    v.evidence = fmt::format("{} {} vs {} {} ({}, {} is better): advantage {}× [{}–{}]", v.winner,
                             Num(best.median), v.runner_up, Num(second.median), crit.metric,
                             crit.higher_is_better ? "higher" : "lower", Num(v.advantage.value),
                             Num(v.advantage.ci_lo), Num(v.advantage.ci_hi));
    out.push_back(std::move(v));
  }
  return out;
}

std::vector<std::string> PickLines(const std::vector<Verdict>& verdicts) {
  std::vector<std::string> lines;
  for (const Verdict& v : verdicts) {
    if (v.winner.empty()) continue;
    if (v.runner_up.empty()) {
      lines.push_back(fmt::format("{}: only {} was measured", v.criterion, v.winner));
    } else if (v.tie) {
      lines.push_back(fmt::format("{}: tie — within noise between {} and {} ({}× [{}–{}])",
                                  v.criterion, v.winner, v.runner_up, Num(v.advantage.value),
                                  Num(v.advantage.ci_lo), Num(v.advantage.ci_hi)));
    } else {
      lines.push_back(fmt::format("pick {} if you care about {}: {}× [{}–{}] better than {}",
                                  v.winner, v.criterion, Num(v.advantage.value),
                                  Num(v.advantage.ci_lo), Num(v.advantage.ci_hi), v.runner_up));
    }
  }
  return lines;
}

nlohmann::json ToJson(const Verdict& v) {
  nlohmann::json j = {{"criterion", v.criterion},
                      {"metric", v.metric},
                      {"higher_is_better", v.higher_is_better},
                      {"winner", v.winner},
                      {"runner_up", v.runner_up},
                      {"tie", v.tie},
                      {"excluded", v.excluded},
                      {"evidence", v.evidence}};
  if (!v.runner_up.empty()) {
    j["advantage"] = {{"median", v.advantage.value},
                      {"ci95_lo", v.advantage.ci_lo},
                      {"ci95_hi", v.advantage.ci_hi}};
  }
  return j;
}

}  // namespace fwbench
