#pragma once
// Aggregates the trials of one configuration: medians across trial processes with bootstrap
// 95% CIs, and warnings for what makes the numbers less trustworthy.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/stats.h"
#include "analysis/trial_metrics.h"

namespace fwbench {

struct MetricSummary {
  stats::Estimate estimate{};
  double cv = 0.0;  // across trials
  std::string unit;
};

struct ConfigSummary {
  std::string config;
  std::string task;
  std::int64_t batch_size = 0;
  int trials_ok = 0;
  int trials_failed = 0;
  // Keys: ttfb_s, steps_per_s, samples_per_s, latency_p50_ms, latency_p90_ms, latency_p99_ms,
  // warmup_cost_s, warmup_steps, peak_rss_mb, cpu_s, loss_first, loss_last, phase.<name>_s;
  // token workloads: tokens_per_s, and for generation ttft_ms, prefill_tokens_per_s,
  // decode_tokens_per_s; with a measured matmul peak (results.cpp): mfu; input pipelines:
  // cpu_s_per_1k_samples.
  std::map<std::string, MetricSummary> metrics;
  std::vector<std::string> warnings;
};

ConfigSummary SummarizeConfig(const std::string& config, const std::string& task,
                              std::int64_t batch_size, const std::vector<TrialMetrics>& trials,
                              double cv_warn);

nlohmann::json ToJson(const ConfigSummary& s);

// Warnings from the orchestrator's CPU watch over the successful trials' steps (issue 19): a
// trial that kept more cores busy than its threads (median over trials above threads × 1.25 +
// 0.1), more runnable threads than cores in over a quarter of the samples (with at least 10),
// or other processes busy at more than 0.2 of a core.
inline constexpr double kOverThreadsFactor = 1.25;
inline constexpr double kOverThreadsSlack = 0.1;
inline constexpr int kMinRunnableSamples = 10;
inline constexpr double kOverRunnableShare = 0.25;
inline constexpr double kOtherCoresWarn = 0.2;
std::vector<std::string> OversubscriptionWarnings(const std::vector<TrialMetrics>& ok);

}  // namespace fwbench
