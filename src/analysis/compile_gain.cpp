#include "analysis/compile_gain.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace fwbench {

namespace {

std::vector<const TrialMetrics*> Usable(const std::vector<TrialMetrics>& trials, const char* what) {
  std::vector<const TrialMetrics*> ok;
  for (const TrialMetrics& t : trials) {
    if (t.ok && !t.steady_step_s.empty()) ok.push_back(&t);
  }
  if (ok.empty()) {
    throw std::invalid_argument(std::string("no successful ") + what +
                                " trial with steady-state steps");
  }
  return ok;
}

double PhaseSeconds(const TrialMetrics& t, const std::string& name) {
  double total = 0.0;
  for (const auto& [phase, s] : t.phases_s) {
    if (phase == name) total += s;
  }
  return total;
}

}  // namespace

CompileGain ComputeCompileGain(const std::string& eager_config,
                               const std::vector<TrialMetrics>& eager,
                               const std::vector<TrialMetrics>& compiled) {
  const auto e = Usable(eager, "eager");
  const auto c = Usable(compiled, "compiled");
  std::vector<std::vector<double>> eager_steps, compiled_steps;
  std::vector<double> eager_means, compiled_means, compile_s, eager_warmup, compiled_warmup;
  for (const TrialMetrics* t : e) {
    eager_steps.push_back(t->steady_step_s);
    eager_means.push_back(stats::Mean(t->steady_step_s));
    eager_warmup.push_back(t->warmup_cost_s);
  }
  for (const TrialMetrics* t : c) {
    compiled_steps.push_back(t->steady_step_s);
    compiled_means.push_back(stats::Mean(t->steady_step_s));
    compiled_warmup.push_back(t->warmup_cost_s);
    compile_s.push_back(PhaseSeconds(*t, "compile"));
  }
  CompileGain g;
  g.eager_config = eager_config;
  g.speedup = stats::HierarchicalRatio(eager_steps, compiled_steps,
                                       [](const std::vector<double>& x) { return stats::Mean(x); });
  g.significant = g.speedup.ci_lo > 1.0 || g.speedup.ci_hi < 1.0;
  g.compile_s = stats::Median(compile_s);
  g.extra_warmup_s = stats::Median(compiled_warmup) - stats::Median(eager_warmup);
  g.eager_step_s = stats::Median(eager_means);
  g.compiled_step_s = stats::Median(compiled_means);
  const auto break_even = [&](const std::vector<std::size_t>& ie,
                              const std::vector<std::size_t>& ic) {
    std::vector<double> em, ew, cm, cw, cs;
    for (std::size_t i : ie) {
      em.push_back(eager_means[i]);
      ew.push_back(eager_warmup[i]);
    }
    for (std::size_t i : ic) {
      cm.push_back(compiled_means[i]);
      cw.push_back(compiled_warmup[i]);
      cs.push_back(compile_s[i]);
    }
    const double saving = stats::Median(em) - stats::Median(cm);
    if (!(saving > 0.0)) return std::numeric_limits<double>::infinity();
    return std::max(0.0, (stats::Median(cs) + stats::Median(cw) - stats::Median(ew)) / saving);
  };
  const stats::Estimate be = stats::BootstrapTwoSamples(e.size(), c.size(), break_even);
  if (!std::isinf(be.value)) g.break_even_steps = be.value;
  g.break_even_ci_lo = be.ci_lo;
  g.break_even_ci_hi = be.ci_hi;
  return g;
}

nlohmann::json ToJson(const CompileGain& g) {
  nlohmann::json j = {
      {"eager_config", g.eager_config},
      {"speedup",
       {{"median", g.speedup.value},
        {"ci95_lo", g.speedup.ci_lo},
        {"ci95_hi", g.speedup.ci_hi},
        {"n", g.speedup.n}}},
      {"significant", g.significant},
      {"compile_s", g.compile_s},
      {"extra_warmup_s", g.extra_warmup_s},
      {"eager_step_s", g.eager_step_s},
      {"compiled_step_s", g.compiled_step_s},
  };
  if (g.break_even_steps) {
    j["break_even_steps"] = *g.break_even_steps;
  } else {
    j["break_even_steps"] = "never";
  }
  const auto bound = [](double v) {
    return std::isinf(v) ? nlohmann::json("never") : nlohmann::json(v);
  };
  if (!std::isnan(g.break_even_ci_lo) && !std::isnan(g.break_even_ci_hi)) {
    j["break_even_ci95"] = {{"lo", bound(g.break_even_ci_lo)}, {"hi", bound(g.break_even_ci_hi)}};
  }
  return j;
}

}  // namespace fwbench
