#pragma once
// What one trial measured, derived from its protocol events and the orchestrator's record of
// the process (spawn/exit time, rusage). Raw step times are kept; aggregation is separate.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace fwbench {

struct TrialMetrics {
  std::string trial;
  std::string config;
  std::string task;
  std::int64_t batch_size = 0;
  // Samples a step trains or infers: batch_size, times the processes of a data-parallel step.
  std::int64_t samples_per_step = 0;
  bool ok = false;
  std::string reason;  // why it failed

  // Time to first batch: end of step 0 minus the orchestrator's spawn time, and its phases in
  // order (exec = spawn → main, the worker's phases, first_step, other = the unaccounted rest).
  double ttfb_s = 0.0;
  std::vector<std::pair<std::string, double>> phases_s;

  std::vector<double> step_s;                  // every step's duration
  std::vector<double> losses;                  // training only
  std::map<std::string, std::string> outputs;  // `output` events: name -> path (e.g. logits)
  std::size_t warmup_steps = 0;
  bool steady_state_found = false;
  double warmup_trend_z = 0.0;  // Mann-Kendall z of the steps after the cut (stats::TrendAfterCut)
  // The orchestrator's /proc watch over the steps (orchestrate/cpu_watch.h), null without one.
  nlohmann::json cpu_during_steps;
  double warmup_cost_s = 0.0;
  std::vector<double> steady_step_s;  // step_s after warm-up truncation

  // Token workloads (step events with "tokens"): per step, constant across a trial.
  double tokens_per_step = 0.0;         // trained on, or generated
  double prompt_tokens_per_step = 0.0;  // generation: prefilled
  // Generation: time to the first new token (prefill) and the rest (decode) of every step, and
  // their steady-state parts (the same warm-up truncation as step_s).
  std::vector<double> ttft_s, decode_s, steady_ttft_s, steady_decode_s;

  double steps_per_s = 0.0;
  double samples_per_s = 0.0;
  double latency_p50_ms = 0.0;
  double latency_p90_ms = 0.0;
  double latency_p99_ms = 0.0;

  double peak_rss_bytes =
      0.0;              // the process's max RSS from wait4 (the worker's own report if larger)
  double cpu_s = 0.0;   // user + system CPU time of the process
  double wall_s = 0.0;  // spawn → exit
  // Task input_pipeline: the CPU time of the loader's whole life (its start, the measured
  // batches, its shutdown; worker processes included) and the samples it delivered meanwhile;
  // negative when the trial reported none. Not kept in results.json (its summary is).
  double pipeline_cpu_s = -1.0;
  double pipeline_samples = 0.0;
  // Steps with "t_input" (input pipelines): the time each waited for its batch, and over the
  // steady-state steps the share of the time the consumer waited for input (negative: none).
  std::vector<double> input_wait_s;
  double input_wait_share = -1.0;
};

// `record` is one line of trials.jsonl; `events` are that trial's events in arrival order.
TrialMetrics ComputeTrialMetrics(const nlohmann::json& record,
                                 const std::vector<nlohmann::json>& events);

nlohmann::json ToJson(const TrialMetrics& m, bool include_series);

}  // namespace fwbench
