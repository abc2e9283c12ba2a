#include "analysis/run_comparison.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

namespace fwbench {

namespace {

struct ConfigTrials {
  std::vector<std::vector<double>> steady_steps;  // per trial, after warm-up
  std::vector<double> ttfb_s, peak_rss_mb, p99_ms;
  std::string task;
};

std::map<std::string, ConfigTrials> Collect(const RunResults& results) {
  std::map<std::string, ConfigTrials> out;
  for (const TrialResult& trial : results.trials) {
    const TrialMetrics& t = trial.metrics;
    if (!t.ok) continue;
    ConfigTrials& c = out[t.config];
    c.task = t.task;
    // results.json keeps every step and the warm-up cut, not the steady series itself.
    const auto warmup = std::min(t.warmup_steps, t.step_s.size());
    std::vector<double> steady(t.step_s.begin() + static_cast<std::ptrdiff_t>(warmup),
                               t.step_s.end());
    if (!steady.empty()) c.steady_steps.push_back(std::move(steady));
    // NaN is a figure results.json has no number for (absent, or null for a non-finite one):
    // that trial says nothing about it.
    if (!std::isnan(t.ttfb_s)) c.ttfb_s.push_back(t.ttfb_s);
    if (!std::isnan(t.peak_rss_bytes))
      c.peak_rss_mb.push_back(t.peak_rss_bytes / (1024.0 * 1024.0));
    if (!std::isnan(t.latency_p99_ms)) c.p99_ms.push_back(t.latency_p99_ms);
  }
  return out;
}

void Judge(MetricChange& m, double threshold, const char* up, const char* down) {
  const bool excludes_one = m.ratio.ci_lo > 1.0 || m.ratio.ci_hi < 1.0;
  m.significant = excludes_one && std::abs(m.ratio.value - 1.0) >= threshold;
  m.verdict = !m.significant ? "no significant change" : (m.ratio.value > 1.0 ? up : down);
}

bool Positive(const std::vector<double>& v) {
  return !v.empty() && std::all_of(v.begin(), v.end(), [](double x) { return x > 0.0; });
}

// The resolved thread count of each configuration, where it says: results.json's counts are
// resolved (never 0), so 0 is a configuration that left its count out.
std::map<std::string, int> ThreadsByConfig(const RunResults& results) {
  std::map<std::string, int> out;
  for (const ConfigurationResult& c : results.configurations) {
    if (c.threads != 0) out[c.id()] = c.threads;
  }
  return out;
}

}  // namespace

Comparison CompareRuns(const RunResults& a, const RunResults& b, double threshold) {
  const auto ta = Collect(a);
  const auto tb = Collect(b);
  const auto threads_a = ThreadsByConfig(a);
  const auto threads_b = ThreadsByConfig(b);
  Comparison out;
  for (const auto& [config, ca] : ta) {
    const auto it = tb.find(config);
    if (it == tb.end()) {
      out.only_in_a.push_back(config);
      continue;
    }
    const auto na = threads_a.find(config);
    const auto nb = threads_b.find(config);
    if (na != threads_a.end() && nb != threads_b.end() && na->second != nb->second) {
      out.threads_differ.push_back(
          fmt::format("{}: {} threads in A, {} in B", config, na->second, nb->second));
      continue;
    }
    const ConfigTrials& cb = it->second;
    if (!ca.steady_steps.empty() && !cb.steady_steps.empty()) {
      MetricChange m;
      m.config = config;
      m.metric = "step time";
      m.unit = "ms";
      const auto mean = [](const std::vector<double>& x) { return stats::Mean(x); };
      m.ratio = stats::HierarchicalRatio(cb.steady_steps, ca.steady_steps, mean);
      std::vector<double> ma, mb;
      for (const auto& s : ca.steady_steps) ma.push_back(1e3 * stats::Mean(s));
      for (const auto& s : cb.steady_steps) mb.push_back(1e3 * stats::Mean(s));
      m.a = stats::Median(ma);
      m.b = stats::Median(mb);
      Judge(m, threshold, "slower", "faster");
      out.changes.push_back(m);
    }
    // A named copy: lambdas capturing structured bindings are C++20 that clang-tidy 14 rejects.
    const std::string& config_id = config;
    const auto ratio_of_medians = [&](const char* metric, const char* unit,
                                      const std::vector<double>& va, const std::vector<double>& vb,
                                      const char* up, const char* down) {
      if (!Positive(va) || vb.empty()) return;
      MetricChange m;
      m.config = config_id;
      m.metric = metric;
      m.unit = unit;
      m.ratio = stats::BootstrapRatioOfMedians(vb, va);
      m.a = stats::Median(va);
      m.b = stats::Median(vb);
      Judge(m, threshold, up, down);
      out.changes.push_back(m);
    };
    if (ca.task == "infer") {
      ratio_of_medians("p99 latency", "ms", ca.p99_ms, cb.p99_ms, "slower", "faster");
    }
    ratio_of_medians("time to first batch", "s", ca.ttfb_s, cb.ttfb_s, "slower", "faster");
    ratio_of_medians("peak RSS", "MiB", ca.peak_rss_mb, cb.peak_rss_mb, "more memory",
                     "less memory");
  }
  for (const auto& [config, unused] : tb) {
    if (!ta.contains(config)) out.only_in_b.push_back(config);
  }
  return out;
}

nlohmann::json ToJson(const Comparison& c, double threshold) {
  nlohmann::json changes = nlohmann::json::array();
  for (const MetricChange& m : c.changes) {
    changes.push_back({{"config", m.config},
                       {"metric", m.metric},
                       {"unit", m.unit},
                       {"a", m.a},
                       {"b", m.b},
                       {"ratio", m.ratio.value},
                       {"ratio_ci95_lo", m.ratio.ci_lo},
                       {"ratio_ci95_hi", m.ratio.ci_hi},
                       {"n", m.ratio.n},
                       {"significant", m.significant},
                       {"verdict", m.verdict}});
  }
  return {{"threshold", threshold},
          {"changes", changes},
          {"only_in_a", c.only_in_a},
          {"only_in_b", c.only_in_b},
          {"threads_differ", c.threads_differ}};
}

}  // namespace fwbench
