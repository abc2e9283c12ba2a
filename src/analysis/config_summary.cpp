#include "analysis/config_summary.h"

#include <fmt/format.h>

#include <algorithm>

#include "analysis/stats.h"
#include "core/trial_spec.h"

namespace fwbench {

namespace {

MetricSummary Across(const std::vector<double>& per_trial, std::string unit) {
  MetricSummary s;
  s.estimate = stats::BootstrapMedian(per_trial);
  s.cv = stats::CoefficientOfVariation(per_trial);
  s.unit = std::move(unit);
  return s;
}

// Steady-state figures resample both levels: which processes ran, and which steps each made.
// `series` picks the per-step values of a trial (step times unless told otherwise).
MetricSummary Hierarchical(
    const std::vector<TrialMetrics>& trials,
    const std::function<double(const std::vector<double>&)>& per_trial, std::string unit,
    const std::function<const std::vector<double>&(const TrialMetrics&)>& series = nullptr) {
  std::vector<std::vector<double>> groups;
  std::vector<double> values;
  for (const TrialMetrics& t : trials) {
    const std::vector<double>& x = series ? series(t) : t.steady_step_s;
    groups.push_back(x);
    values.push_back(per_trial(x));
  }
  MetricSummary s;
  s.estimate = stats::HierarchicalBootstrap(groups, per_trial);
  s.cv = stats::CoefficientOfVariation(values);
  s.unit = std::move(unit);
  return s;
}

}  // namespace

ConfigSummary SummarizeConfig(const std::string& config, const std::string& task,
                              std::int64_t batch_size, const std::vector<TrialMetrics>& trials,
                              double cv_warn) {
  ConfigSummary s;
  s.config = config;
  s.task = task;
  s.batch_size = batch_size;
  std::vector<TrialMetrics> ok;
  for (const TrialMetrics& t : trials) {
    if (t.ok && !t.steady_step_s.empty()) {
      ok.push_back(t);
    } else {
      ++s.trials_failed;
    }
  }
  s.trials_ok = static_cast<int>(ok.size());
  if (s.trials_failed > 0) {
    s.warnings.push_back(
        fmt::format("{} of {} trials failed (see the trials table and their stderr.log)",
                    s.trials_failed, trials.size()));
  }
  if (ok.empty()) return s;

  const auto collect = [&](auto field) {
    std::vector<double> v;
    v.reserve(ok.size());
    for (const TrialMetrics& t : ok) v.push_back(field(t));
    return v;
  };
  // The samples of a step: the batch, on every process of a data-parallel configuration.
  const double batch = static_cast<double>(
      ok.front().samples_per_step > 0 ? ok.front().samples_per_step : s.batch_size);
  s.metrics["steps_per_s"] = Hierarchical(
      ok, [](const std::vector<double>& x) { return 1.0 / stats::Mean(x); }, "1/s");
  s.metrics["samples_per_s"] = Hierarchical(
      ok, [batch](const std::vector<double>& x) { return batch / stats::Mean(x); }, "1/s");
  for (const auto& [name, p] :
       {std::pair{"latency_p50_ms", 50.0}, std::pair{"latency_p90_ms", 90.0},
        std::pair{"latency_p99_ms", 99.0}}) {
    s.metrics[name] = Hierarchical(
        ok, [p = p](const std::vector<double>& x) { return stats::Percentile(x, p) * 1e3; }, "ms");
  }
  // Token workloads: tokens/s of training or generation; for generation also the time to the
  // first token, the prefill rate and the decode rate (tokens after the first, per second).
  const TrialMetrics& first = ok.front();
  if (first.tokens_per_step > 0) {
    const double tokens = first.tokens_per_step;
    s.metrics["tokens_per_s"] = Hierarchical(
        ok, [tokens](const std::vector<double>& x) { return tokens / stats::Mean(x); }, "1/s");
    const bool generation = std::all_of(ok.begin(), ok.end(), [](const TrialMetrics& t) {
      return !t.steady_ttft_s.empty() && t.steady_ttft_s.size() == t.steady_decode_s.size();
    });
    if (generation) {
      const auto ttft = [](const TrialMetrics& t) -> const std::vector<double>& {
        return t.steady_ttft_s;
      };
      const auto decode = [](const TrialMetrics& t) -> const std::vector<double>& {
        return t.steady_decode_s;
      };
      s.metrics["ttft_ms"] = Hierarchical(
          ok, [](const std::vector<double>& x) { return stats::Percentile(x, 50) * 1e3; }, "ms",
          ttft);
      const double prompt = first.prompt_tokens_per_step;
      s.metrics["prefill_tokens_per_s"] = Hierarchical(
          ok, [prompt](const std::vector<double>& x) { return prompt / stats::Mean(x); }, "1/s",
          ttft);
      const double decoded = tokens - batch;  // the first token of each sequence is prefill's
      if (decoded > 0) {
        s.metrics["decode_tokens_per_s"] = Hierarchical(
            ok, [decoded](const std::vector<double>& x) { return decoded / stats::Mean(x); }, "1/s",
            decode);
      }
    }
  }
  s.metrics["ttfb_s"] = Across(collect([](const TrialMetrics& t) { return t.ttfb_s; }), "s");
  s.metrics["warmup_cost_s"] =
      Across(collect([](const TrialMetrics& t) { return t.warmup_cost_s; }), "s");
  s.metrics["warmup_steps"] = Across(
      collect([](const TrialMetrics& t) { return static_cast<double>(t.warmup_steps); }), "steps");
  s.metrics["peak_rss_mb"] = Across(
      collect([](const TrialMetrics& t) { return t.peak_rss_bytes / (1024.0 * 1024.0); }), "MiB");
  s.metrics["cpu_s"] = Across(collect([](const TrialMetrics& t) { return t.cpu_s; }), "s");
  // Input pipelines: the share of the steady steps the consumer spent waiting for its batch.
  if (std::all_of(ok.begin(), ok.end(),
                  [](const TrialMetrics& t) { return t.input_wait_share >= 0.0; })) {
    s.metrics["input_wait_share"] =
        Across(collect([](const TrialMetrics& t) { return t.input_wait_share; }), "");
  }
  // Input pipelines: CPU seconds (every thread and worker process) per 1,000 samples delivered.
  if (std::all_of(ok.begin(), ok.end(), [](const TrialMetrics& t) {
        return t.pipeline_cpu_s >= 0.0 && t.pipeline_samples > 0.0;
      })) {
    s.metrics["cpu_s_per_1k_samples"] =
        Across(collect([](const TrialMetrics& t) {
                 return t.pipeline_cpu_s / t.pipeline_samples * 1000.0;
               }),
               "s");
  }
  std::vector<double> first_losses, last_losses;
  for (const TrialMetrics& t : ok) {
    if (t.losses.empty()) continue;
    first_losses.push_back(t.losses.front());
    last_losses.push_back(t.losses.back());
  }
  if (!first_losses.empty()) {
    s.metrics["loss_first"] = Across(first_losses, "");
    s.metrics["loss_last"] = Across(last_losses, "");
  }
  for (const auto& [phase, unused] : ok.front().phases_s) {
    std::vector<double> v;
    for (const TrialMetrics& t : ok) {
      for (const auto& [name, sec] : t.phases_s) {
        if (name == phase) v.push_back(sec);
      }
    }
    if (v.size() == ok.size()) s.metrics["phase." + phase + "_s"] = Across(v, "s");
  }

  // A rate for training and input pipelines (a prefetching loader's step times are bimodal: a
  // ready batch, or a wait for one), latency for inference.
  const std::string headline =
      IsTrainingTask(s.task) || s.task == kTaskInputPipeline ? "steps_per_s" : "latency_p50_ms";
  for (const std::string& key : {headline, std::string("ttfb_s")}) {
    const MetricSummary& m = s.metrics[key];
    if (m.cv > cv_warn) {
      s.warnings.push_back(fmt::format(
          "noisy: {} varies by {:.0f}% (CV) across {} trials, above the {:.0f}% limit; close other "
          "programs, check `fwbench doctor`, or add trials (--trials)",
          key, m.cv * 100, ok.size(), cv_warn * 100));
    }
  }
  // More than half of the trials: at the trend test's ~3% false alarms per trial, "any trial"
  // would warn about 1 configuration in 11 at 3 trials, and most default runs; a majority of 3
  // trips by chance for about 0.3% of configurations (docs/statistics.md). Each trial's own
  // verdict stays in trials.jsonl (steady_state_found, warmup_trend_z).
  int unsettled = 0;
  for (const TrialMetrics& t : ok) unsettled += t.steady_state_found ? 0 : 1;
  // The plan's budget a task runs under: train_ddp and input_pipeline use training's.
  const std::string budget = s.task == kTaskInfer ? "infer" : "train";
  if (2 * unsettled > static_cast<int>(ok.size())) {
    s.warnings.push_back(fmt::format(
        "warm-up may not be over in {} of {} trials (step times still trending at the end); run "
        "longer with --{}-min-steps or --{}-min-seconds",
        unsettled, ok.size(), budget, budget));
  }
  for (std::string& w : OversubscriptionWarnings(ok)) s.warnings.push_back(std::move(w));
  return s;
}

std::vector<std::string> OversubscriptionWarnings(const std::vector<TrialMetrics>& ok) {
  std::vector<double> trial_cores;
  std::vector<double> other_cores;
  std::vector<double> steal_cores;
  int samples = 0;
  int over = 0;
  int threads = 0;
  int cores = 0;
  for (const TrialMetrics& t : ok) {
    const nlohmann::json& c = t.cpu_during_steps;
    if (!c.is_object()) continue;
    trial_cores.push_back(c.value("trial_cores", 0.0));
    other_cores.push_back(c.value("other_cores", 0.0));
    steal_cores.push_back(c.value("steal_cores", 0.0));
    samples += c.value("runnable_samples", 0);
    over += c.value("runnable_over_cores", 0);
    threads = c.value("threads", 0);
    cores = c.value("cores", 0);
  }
  std::vector<std::string> out;
  if (trial_cores.empty()) return out;
  const double used = stats::Median(trial_cores);
  // A trial of N threads keeps at most N cores busy; more means a pool beyond the configured one
  // is working (or spinning). The margin covers the worker's own bookkeeping thread.
  if (used > threads * kOverThreadsFactor + kOverThreadsSlack) {
    out.push_back(fmt::format(
        "oversubscribed: its trials kept {:.1f} cores busy during their steps with {} thread{}: "
        "a thread pool beyond the configured one is working or spinning (docs/workers.md, "
        "\"Thread pools\")",
        used, threads, threads == 1 ? "" : "s"));
  }
  if (samples >= kMinRunnableSamples && over > kOverRunnableShare * static_cast<double>(samples)) {
    out.push_back(fmt::format(
        "oversubscribed: more threads were runnable than the {} cores in {:.0f}% of the samples "
        "taken during its steps, so threads waited for a core (another pool, or other programs; "
        "`fwbench doctor` lists what else runs)",
        cores, 100.0 * over / samples));
  }
  const double other = stats::Median(other_cores);
  const double steal = stats::Median(steal_cores);
  if (other > kOtherCoresWarn) {
    out.push_back(fmt::format(
        "other processes kept {:.2f} cores busy during its steps (median over trials{}): they "
        "compete for the CPU and caches; close them, or see `fwbench doctor`",
        other,
        steal > 0.05 ? fmt::format("; {:.2f} of it stolen by the hypervisor, i.e. this VM's "
                                   "neighbours",
                                   steal)
                     : ""));
  }
  return out;
}

nlohmann::json ToJson(const ConfigSummary& s) {
  nlohmann::json metrics = nlohmann::json::object();
  for (const auto& [name, m] : s.metrics) {
    metrics[name] = {{"median", m.estimate.value},
                     {"ci95_lo", m.estimate.ci_lo},
                     {"ci95_hi", m.estimate.ci_hi},
                     {"n", m.estimate.n},
                     {"cv", m.cv},
                     {"unit", m.unit}};
  }
  return {{"config", s.config},
          {"task", s.task},
          {"batch_size", s.batch_size},
          {"trials_ok", s.trials_ok},
          {"trials_failed", s.trials_failed},
          {"metrics", metrics},
          {"warnings", s.warnings}};
}

}  // namespace fwbench
