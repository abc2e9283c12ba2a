#include "analysis/ddp_scaling.h"

#include <stdexcept>

namespace fwbench {

namespace {

std::vector<std::vector<double>> SteadySteps(const std::vector<TrialMetrics>& trials,
                                             const char* what) {
  std::vector<std::vector<double>> out;
  for (const TrialMetrics& t : trials) {
    if (t.ok && !t.steady_step_s.empty()) out.push_back(t.steady_step_s);
  }
  if (out.empty()) {
    throw std::invalid_argument(std::string("no successful ") + what +
                                " trial with steady-state steps");
  }
  return out;
}

nlohmann::json EstimateJson(const stats::Estimate& e) {
  return {{"median", e.value}, {"ci95_lo", e.ci_lo}, {"ci95_hi", e.ci_hi}, {"n", e.n}};
}

stats::Estimate EstimateOf(const nlohmann::json& j) {
  stats::Estimate e{0.0, 0.0, 0.0, 0, 0.95};
  if (!j.is_object()) return e;
  const auto number = [&](const char* key) {
    return j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0;
  };
  e.value = number("median");
  e.ci_lo = number("ci95_lo");
  e.ci_hi = number("ci95_hi");
  e.n = j.contains("n") && j["n"].is_number_unsigned() ? j["n"].get<std::size_t>() : 0;
  return e;
}

}  // namespace

DdpScaling ComputeDdpScaling(const std::string& baseline_config, int processes, int hosts,
                             const std::vector<TrialMetrics>& baseline,
                             const std::vector<TrialMetrics>& scaled) {
  const auto one = SteadySteps(baseline, "one-process");
  const auto many = SteadySteps(scaled, "data-parallel");
  const auto mean = [](const std::vector<double>& x) { return stats::Mean(x); };
  DdpScaling s;
  s.baseline_config = baseline_config;
  s.processes = processes;
  s.hosts = hosts;
  s.efficiency = stats::HierarchicalRatio(one, many, mean);
  s.speedup = s.efficiency;
  for (double* v : {&s.speedup.value, &s.speedup.ci_lo, &s.speedup.ci_hi}) *v *= processes;
  std::vector<double> one_means, many_means;
  for (const auto& t : one) one_means.push_back(stats::Mean(t));
  for (const auto& t : many) many_means.push_back(stats::Mean(t));
  s.baseline_step_s = stats::Median(one_means);
  s.step_s = stats::Median(many_means);
  return s;
}

nlohmann::json ToJson(const DdpScaling& s) {
  return {{"baseline_config", s.baseline_config},
          {"processes", s.processes},
          {"hosts", s.hosts},
          {"efficiency", EstimateJson(s.efficiency)},
          {"speedup", EstimateJson(s.speedup)},
          {"baseline_step_s", s.baseline_step_s},
          {"step_s", s.step_s}};
}

DdpScaling DdpScalingFromJson(const nlohmann::json& j) {
  DdpScaling s;
  s.baseline_config = j.value("baseline_config", "");
  s.processes = j.value("processes", 1);
  s.hosts = j.value("hosts", 1);
  s.efficiency = EstimateOf(j.value("efficiency", nlohmann::json()));
  s.speedup = EstimateOf(j.value("speedup", nlohmann::json()));
  s.baseline_step_s = j.value("baseline_step_s", 0.0);
  s.step_s = j.value("step_s", 0.0);
  return s;
}

}  // namespace fwbench
