#include "analysis/verdict.h"
#include "core/trial_spec.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "analysis/run_results.h"

namespace fwbench {

namespace {

// The metric's value in one trial, or nothing when the trial did not measure it.
std::optional<double> TrialValue(const TrialMetrics& t, const std::string& metric) {
  double v = NAN;
  if (metric == "latency_p50_ms") {
    v = t.latency_p50_ms;
  } else if (metric == "peak_rss_mb") {
    v = t.peak_rss_bytes / (1024.0 * 1024.0);
  } else if (metric == "samples_per_s") {
    v = t.samples_per_s;
  } else if (metric == "ttfb_s") {
    v = t.ttfb_s;
  } else if (metric == "tokens_per_s") {
    v = t.steps_per_s * t.tokens_per_step;
  } else if (metric == "ttft_ms" && !t.steady_ttft_s.empty()) {
    v = stats::Median(t.steady_ttft_s) * 1e3;
  }
  if (!std::isfinite(v)) return std::nullopt;
  return v;
}

std::string NotRanked(const ConfigurationResult& c) {
  return fmt::format("{}: not ranked (parity {})", c.id(), c.ParityStatus());
}

struct Criterion {
  std::string name;
  std::string metric;
  bool higher_is_better;
  std::string task;
  std::int64_t batch;  // 0: the configuration's own (training)
};

std::string Num(double v) { return fmt::format("{:.4g}", v); }

// A ratio verdict whose CI rests on too few trials names no winner.
void RequireEnoughTrials(Verdict& v) {
  if (v.advantage.n >= kMinTrialsForVerdict) return;
  v.too_few_trials = true;
  v.tie = true;
  v.evidence += fmt::format(
      "; {} trial(s) on one side: too few for a confidence interval (a verdict needs {} per "
      "configuration: run with --trials {} or more)",
      v.advantage.n, kMinTrialsForVerdict, kMinTrialsForVerdict);
}

// Compile gain for one task: the compiled configuration with the largest speed-up over its
// eager twin (results' `compile`, docs/compiled.md). A tie when that speed-up's CI includes 1 or
// it is under the threshold; the eager twin wins when compiling makes it significantly slower.
Verdict CompileGainVerdict(const std::vector<ConfigurationResult>& configs, const std::string& task,
                           double threshold) {
  Verdict v;
  v.criterion = fmt::format("compile gain ({})", task == "train" ? "training" : "inference");
  v.metric = "compile.speedup";
  v.higher_is_better = true;
  const ConfigurationResult* best = nullptr;
  std::vector<std::string> others;
  for (const ConfigurationResult& c : configs) {
    if (c.task() != task || !c.compile) continue;
    if (!c.ranked || !c.compile->ranked) {
      v.excluded.push_back(NotRanked(c));
      continue;
    }
    if (!c.compile->gain) continue;
    if (best == nullptr || c.compile->gain->speedup.value > best->compile->gain->speedup.value) {
      if (best != nullptr) others.push_back(best->id());
      best = &c;
    } else {
      others.push_back(c.id());
    }
  }
  if (best == nullptr) {
    v.evidence = "no ranked compiled configuration with an eager twin measured this";
    return v;
  }
  const CompileGain& g = *best->compile->gain;
  const stats::Estimate speedup{g.speedup.value, g.speedup.ci_lo, g.speedup.ci_hi, g.speedup.n,
                                0.95};
  const std::string& compiled = best->id();
  const std::string& eager = g.eager_config;
  const auto steps = [](double b) {
    return std::isfinite(b) ? fmt::format("{:.0f}", std::ceil(b)) : std::string("never");
  };
  std::string break_even = steps(g.break_even_steps.value_or(INFINITY));
  if (break_even != "never") break_even += " steps";
  if (!std::isnan(g.break_even_ci_lo) && !std::isnan(g.break_even_ci_hi)) {
    break_even +=
        fmt::format(" (95% CI {}–{})", steps(g.break_even_ci_lo), steps(g.break_even_ci_hi));
  }
  if (speedup.ci_hi < 1.0) {  // compiling costs speed: the eager twin is the one to pick
    v.winner = eager;
    v.runner_up = compiled;
    v.advantage = {1.0 / speedup.value, 1.0 / speedup.ci_hi, 1.0 / speedup.ci_lo, speedup.n, 0.95};
  } else {
    v.winner = compiled;
    v.runner_up = eager;
    v.advantage = speedup;
  }
  v.tie = !(v.advantage.ci_lo > 1.0) || v.advantage.value - 1.0 < threshold;
  v.evidence =
      fmt::format("{} over its eager twin {}: speed-up {}× [{}–{}], compile {} s, break-even {}",
                  compiled, eager, Num(speedup.value), Num(speedup.ci_lo), Num(speedup.ci_hi),
                  Num(g.compile_s), break_even);
  if (!others.empty()) v.evidence += fmt::format("; also compared: {}", fmt::join(others, ", "));
  RequireEnoughTrials(v);
  return v;
}

// Portability: per backend, how many of the run's tasks it ran with parity on this machine, and
// why it did not run the others. Exact counts, so no CI: several backends that ran everything
// tie.
Verdict PortabilityVerdict(const RunResults& results) {
  Verdict v;
  v.criterion = "portability (tasks run with parity here)";
  v.metric = "tasks_with_parity";
  v.higher_is_better = true;
  v.ratio = false;
  const std::vector<ConfigurationResult>& configs = results.configurations;
  std::set<std::string> tasks;
  std::vector<std::string> backends;  // in plan order
  std::map<std::string, std::set<std::string>> passed;
  for (const ConfigurationResult& c : configs) {
    tasks.insert(c.task());
    if (std::find(backends.begin(), backends.end(), c.backend) == backends.end()) {
      backends.push_back(c.backend);
    }
    if (c.ranked && c.summary.trials_ok > 0) passed[c.backend].insert(c.task());
  }
  // A user's model: a runtime that could load neither it nor a conversion of it ran nothing, and
  // is compared as such (a row of the portability matrix).
  const std::map<std::string, std::string> refused = results.RefusedRuntimes();
  for (const auto& entry : refused) {
    if (std::find(backends.begin(), backends.end(), entry.first) == backends.end()) {
      backends.push_back(entry.first);
    }
  }
  if (backends.size() < 2) {
    v.evidence = backends.empty() ? "no configuration in this run"
                                  : "only one backend in this run: nothing to compare";
    v.winner = backends.empty() ? "" : backends.front();
    return v;
  }
  // Why a built-in worker skipped a task on this machine (env.workers[].mode_unavailable).
  const auto why_not = [&](const std::string& backend, const std::string& task) -> std::string {
    if (const auto it = refused.find(backend); it != refused.end()) return it->second;
    const nlohmann::json& env = results.env;
    for (const auto& w : env.value("workers", nlohmann::json::array())) {
      if (w.value("name", "") != backend) continue;
      const nlohmann::json ported = w.value("tasks", nlohmann::json::array());
      if (task == kTaskTrainDdp) {
        const nlohmann::json modes = w.value("ddp_modes", nlohmann::json::array());
        if (!modes.is_array() || modes.empty()) {
          return fmt::format("the {} port does not implement data-parallel training", backend);
        }
      } else if (ported.is_array() && !ported.empty() &&
                 std::find(ported.begin(), ported.end(), task) == ported.end()) {
        return fmt::format("the {} port does not implement {}", backend,
                           task == "train" ? "training" : "inference");
      }
      const nlohmann::json reasons = w.value("mode_unavailable", nlohmann::json::object());
      for (const auto& [key, reason] : reasons.items()) {
        if (key.ends_with("/" + task) && reason.is_string()) return reason.get<std::string>();
      }
    }
    const bool planned = std::any_of(
        configs.begin(), configs.end(),
        [&](const ConfigurationResult& c) { return c.backend == backend && c.task() == task; });
    if (!planned) return "not in this run";
    // What stopped it, in the runtime's own words where a trial failed (a model it cannot load).
    for (const ConfigurationResult& c : configs) {
      if (c.backend != backend || c.task() != task) continue;
      if (c.summary.trials_ok == 0) {
        bool failed = false;
        for (const TrialResult& t : results.trials) {
          if (t.metrics.config != c.id() || t.metrics.ok) continue;
          failed = true;
          if (t.metrics.reason.empty()) continue;
          std::string reason = t.metrics.reason;
          if (reason.size() > 240) reason = reason.substr(0, 237) + "...";
          return "its trials failed: " + reason;
        }
        // An interrupted run leaves configurations with no trial at all: nothing failed.
        return failed ? "its trials failed" : "no trial of it ran";
      }
      if (c.parity && c.parity->status == "fail") {
        return fmt::format("it computes something else than {} (parity failed)",
                           c.parity->reference);
      }
    }
    return "ran without passing parity";
  };
  std::vector<std::string> parts;
  std::size_t most = 0;
  for (const std::string& b : backends) most = std::max(most, passed[b].size());
  std::vector<std::string> leaders;
  for (const std::string& b : backends) {
    std::vector<std::string> missing;
    for (const std::string& t : tasks) {
      if (!passed[b].contains(t)) missing.push_back(fmt::format("{}: {}", t, why_not(b, t)));
    }
    parts.push_back(
        fmt::format("{} {}/{}{}", b, passed[b].size(), tasks.size(),
                    missing.empty() ? "" : fmt::format(" ({})", fmt::join(missing, "; "))));
    if (passed[b].size() == most) leaders.push_back(b);
  }
  v.winner = leaders.front();
  if (leaders.size() > 1) {
    v.runner_up = leaders[1];
    v.tie = true;
  } else {
    for (const std::string& b : backends) {
      if (b != v.winner && (v.runner_up.empty() || passed[b].size() > passed[v.runner_up].size()))
        v.runner_up = b;
    }
  }
  v.evidence = fmt::format("tasks run with parity: {}", fmt::join(parts, ", "));
  return v;
}

// Deployment (time to a served endpoint, throughput at a p99 bound) is measured by
// `fwbench deploy`, not by `fwbench run`; with --into its deploy.json joins the run. Each
// server's highest rate comes from one rate search (no confidence interval), so the row is not a
// ratio with a CI, and a gap within twice the threshold (the search's resolution) is a tie.
Verdict DeploymentVerdict(const RunResults& results, double threshold) {
  Verdict v;
  v.criterion = "deployment (time to a served endpoint, throughput at a p99 bound)";
  v.metric = "deployment";
  v.higher_is_better = true;
  v.ratio = false;
  if (!results.deployment) {
    v.evidence =
        "not measured in this run (a benchmark run measures training and inference in-process; "
        "fwbench deploy --into RUN adds serving)";
    return v;
  }
  const nlohmann::json& d = *results.deployment;
  struct Server {
    std::string name;
    double rate;
    double ready_s;
    std::int64_t steps;
  };
  std::vector<Server> ranked;
  for (const auto& s : d.value("servers", nlohmann::json::array())) {
    const std::string name = s.value("name", "?");
    if (s.contains("skipped")) {
      v.excluded.push_back(fmt::format("{}: not run ({})", name, s["skipped"].get<std::string>()));
      continue;
    }
    if (s.contains("failed")) {
      const std::string why = s["failed"].get<std::string>();  // its first line: the log follows
      v.excluded.push_back(fmt::format("{}: failed ({})", name, why.substr(0, why.find('\n'))));
      continue;
    }
    if (s.contains("parity") && s["parity"].value("status", "") == "FAIL") {
      v.excluded.push_back(name + ": parity fail");
      continue;
    }
    ranked.push_back({name, s.value("max_rate_per_s", 0.0), s.value("time_to_ready_s", 0.0),
                      s.value("step_count", std::int64_t{0})});
  }
  std::sort(ranked.begin(), ranked.end(),
            [](const Server& a, const Server& b) { return a.rate > b.rate; });
  std::vector<std::string> parts;
  parts.reserve(ranked.size());
  for (const Server& s : ranked) {
    parts.push_back(fmt::format("{} {}/s (ready in {} s, {} steps)", s.name, Num(s.rate),
                                Num(s.ready_s), s.steps));
  }
  v.evidence = fmt::format("highest rate with p99 ≤ {} ms, one search each: {}",
                           Num(d.value("p99_bound_ms", 0.0)), fmt::join(parts, "; "));
  if (ranked.empty() || ranked[0].rate <= 0) return v;
  v.winner = ranked[0].name;
  if (ranked.size() > 1) {
    v.runner_up = ranked[1].name;
    v.tie = ranked[1].rate > 0 && ranked[0].rate / ranked[1].rate < 1.0 + 2 * threshold;
  }
  return v;
}

// Input pipelines (task input_pipeline): per loader its fastest setting, then the fastest two
// loaders' samples/s compared as any ratio verdict. Only pipelines whose first batches matched
// the reference's bit for bit compete (what parity is to a model).
Verdict PipelineVerdict(const RunResults& results, const std::string& model_step,
                        double threshold) {
  Verdict v;
  // Fed to the training step, a pipeline's samples/s is mostly its framework's training speed:
  // the criterion says end to end, and the evidence gives how long each waited for input.
  v.criterion = model_step == "train"
                    ? "training fed by its framework's own input pipeline (samples/s, end to end)"
                    : "input throughput (the pipeline alone, samples/s)";
  v.metric = "samples_per_s";
  v.higher_is_better = true;
  std::map<std::string, std::vector<double>> trials_of;
  for (const TrialResult& t : results.trials) {
    if (t.metrics.ok && std::isfinite(t.metrics.samples_per_s)) {
      trials_of[t.metrics.config].push_back(t.metrics.samples_per_s);
    }
  }
  struct Best {
    std::string id;
    double median = 0.0;
    std::vector<double> trials;
    double input_wait = -1.0;  // median share of the steps spent waiting for the batch
  };
  std::map<std::string, Best> best_of;  // by loader
  for (const ConfigurationResult& c : results.pipelines) {
    if (!c.pipeline || c.pipeline->model_step != model_step) continue;
    if (c.pipeline->check != "match") {
      v.excluded.push_back(
          fmt::format("{}: not ranked (batch check {})", c.id(), c.pipeline->check));
      continue;
    }
    const auto& trials = trials_of[c.id()];
    if (trials.empty()) continue;
    const double median = stats::Median(trials);
    const MetricSummary* wait = c.Metric("input_wait_share");
    Best& b = best_of[c.pipeline->loader];
    if (b.id.empty() || median > b.median) {
      b = {c.id(), median, trials, wait != nullptr ? wait->estimate.value : -1.0};
    }
  }
  std::vector<Best> ranked;
  ranked.reserve(best_of.size());
  for (auto& [loader, b] : best_of) ranked.push_back(std::move(b));
  std::sort(ranked.begin(), ranked.end(),
            [](const Best& a, const Best& b) { return a.median > b.median; });
  if (ranked.empty()) {
    v.evidence = "no input pipeline with checked batches measured this";
    return v;
  }
  v.winner = ranked[0].id;
  std::vector<std::string> parts;
  parts.reserve(ranked.size());
  for (const Best& b : ranked) {
    parts.push_back(b.input_wait >= 0.0 && model_step == "train"
                        ? fmt::format("{} {} (waited for input {:.1f}% of the time)", b.id,
                                      Num(b.median), 100.0 * b.input_wait)
                        : fmt::format("{} {}", b.id, Num(b.median)));
  }
  if (ranked.size() == 1) {
    v.evidence = fmt::format("only {} was measured: {}", v.winner, Num(ranked[0].median));
    return v;
  }
  v.runner_up = ranked[1].id;
  v.advantage = stats::BootstrapRatioOfMedians(ranked[0].trials, ranked[1].trials);
  v.tie = !(v.advantage.ci_lo > 1.0) || v.advantage.value - 1.0 < threshold;
  v.evidence = fmt::format(
      "each loader at its fastest setting: {}; advantage {}× [{}–{}] (the CI is the two "
      "settings' own; it does not account for picking each loader's fastest)",
      fmt::join(parts, ", "), Num(v.advantage.value), Num(v.advantage.ci_lo),
      Num(v.advantage.ci_hi));
  RequireEnoughTrials(v);
  return v;
}

}  // namespace

std::vector<Verdict> BuildVerdicts(const RunResults& results, double threshold) {
  const std::vector<ConfigurationResult>& configs = results.configurations;
  std::set<std::int64_t> infer_batches;
  for (const ConfigurationResult& c : configs) {
    if (c.task() == "infer") infer_batches.insert(c.summary.batch_size);
  }
  std::vector<Criterion> criteria;
  if (results.plan.value("workload", "") == "llm_lora") {
    // The LLM questions: how fast it fine-tunes, how soon and how fast it answers.
    if (!infer_batches.empty()) {
      const std::int64_t small = *infer_batches.begin();
      criteria.push_back(
          {fmt::format("LLM generation latency (time to first token, batch {})", small), "ttft_ms",
           false, "infer", small});
      criteria.push_back(
          {fmt::format("LLM generation latency (a whole {}-token answer, p50, batch {})",
                       results.plan.value("llm.decode_tokens", "?"), small),
           "latency_p50_ms", false, "infer", small});
      criteria.push_back({fmt::format("memory (peak RSS, generation batch {})", small),
                          "peak_rss_mb", false, "infer", small});
    }
    criteria.push_back({"LLM fine-tuning throughput (tokens/s)", "tokens_per_s", true, "train", 0});
  } else if (!infer_batches.empty()) {
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
  // (A pipeline-only run trains no model of its own.)
  if (results.plan.value("workload", "") != "llm_lora" &&
      (!configs.empty() || results.pipelines.empty())) {
    criteria.push_back({"training throughput", "samples_per_s", true, "train", 0});
  }

  // Per configuration, the metric's per-trial values (successful trials only).
  std::map<std::string, std::map<std::string, std::vector<double>>> values;
  for (const TrialResult& t : results.trials) {
    if (!t.metrics.ok) continue;
    for (const Criterion& c : criteria) {
      if (const auto v = TrialValue(t.metrics, c.metric))
        values[t.metrics.config][c.metric].push_back(*v);
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
    for (const ConfigurationResult& c : configs) {
      if (c.task() != crit.task) continue;
      if (crit.batch != 0 && c.summary.batch_size != crit.batch) continue;
      if (!c.ranked) {
        v.excluded.push_back(NotRanked(c));
        continue;
      }
      const auto& trials = values[c.id()][crit.metric];
      if (trials.empty()) continue;
      candidates.push_back({c.id(), stats::Median(trials), trials});
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
    RequireEnoughTrials(v);
    out.push_back(std::move(v));
  }
  for (const std::string task : {"infer", "train"}) {
    const bool has_compiled = std::any_of(
        configs.begin(), configs.end(),
        [&](const ConfigurationResult& c) { return c.task() == task && c.compile.has_value(); });
    if (has_compiled) out.push_back(CompileGainVerdict(configs, task, threshold));
  }
  if (!results.pipelines.empty()) {
    for (const std::string step : {"none", "train"}) {
      const bool planned = std::any_of(results.pipelines.begin(), results.pipelines.end(),
                                       [&](const ConfigurationResult& c) {
                                         return c.pipeline && c.pipeline->model_step == step;
                                       });
      if (planned) out.push_back(PipelineVerdict(results, step, threshold));
    }
  }
  // A pipeline-only run compares no models: no portability or deployment row to show.
  if (!configs.empty() || results.pipelines.empty()) {
    out.push_back(PortabilityVerdict(results));
    out.push_back(DeploymentVerdict(results, threshold));
  }
  return out;
}

std::vector<std::string> PickLines(const std::vector<Verdict>& verdicts) {
  std::vector<std::string> lines;
  for (const Verdict& v : verdicts) {
    if (v.winner.empty()) continue;
    if (!v.ratio) {
      lines.push_back(v.tie                 ? fmt::format("{}: tie — {}", v.criterion, v.evidence)
                      : v.runner_up.empty() ? fmt::format("{}: {}", v.criterion, v.evidence)
                                            : fmt::format("pick {} if you care about {}: {}",
                                                          v.winner, v.criterion, v.evidence));
      continue;
    }
    if (v.runner_up.empty()) {
      lines.push_back(fmt::format("{}: only {} was measured", v.criterion, v.winner));
    } else if (v.too_few_trials) {
      lines.push_back(
          fmt::format("{}: undecided — {} vs {} rests on {} trial(s); a verdict needs "
                      "{} per configuration",
                      v.criterion, v.winner, v.runner_up, v.advantage.n, kMinTrialsForVerdict));
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
                      {"too_few_trials", v.too_few_trials},
                      {"excluded", v.excluded},
                      {"evidence", v.evidence},
                      {"ratio", v.ratio}};
  if (v.ratio && !v.runner_up.empty()) {
    j["advantage"] = {{"median", v.advantage.value}, {"n", v.advantage.n}};
    if (!v.too_few_trials) {  // else no interval: one of no width would look like certainty
      j["advantage"]["ci95_lo"] = v.advantage.ci_lo;
      j["advantage"]["ci95_hi"] = v.advantage.ci_hi;
    }
  }
  return j;
}

}  // namespace fwbench

namespace fwbench {

Verdict VerdictFromJson(const nlohmann::json& j) {
  Verdict v;
  v.criterion = j.value("criterion", "");
  v.metric = j.value("metric", "");
  v.higher_is_better = j.value("higher_is_better", false);
  v.winner = j.value("winner", "");
  v.runner_up = j.value("runner_up", "");
  v.tie = j.value("tie", false);
  v.too_few_trials = j.value("too_few_trials", false);
  v.excluded = j.value("excluded", std::vector<std::string>{});
  v.evidence = j.value("evidence", "");
  v.ratio = j.value("ratio", true);
  if (j.contains("advantage") && j["advantage"].is_object()) {
    const nlohmann::json& a = j["advantage"];
    v.advantage = {a.value("median", 0.0), a.value("ci95_lo", 0.0), a.value("ci95_hi", 0.0),
                   a.value("n", std::size_t{0}), 0.95};
  }
  return v;
}

}  // namespace fwbench
