#include "analysis/trial_metrics.h"

#include <algorithm>
#include <numeric>

#include "analysis/stats.h"
#include "analysis/warmup.h"

namespace fwbench {

namespace {

double Seconds(std::int64_t ns) { return static_cast<double>(ns) * 1e-9; }

}  // namespace

TrialMetrics ComputeTrialMetrics(const nlohmann::json& record,
                                 const std::vector<nlohmann::json>& events) {
  TrialMetrics m;
  m.trial = record.value("trial", "");
  m.config = record.value("config", "");
  m.task = record.value("task", "");
  m.batch_size = record.value("batch_size", std::int64_t{0});
  // A data-parallel step trains batch_size samples on each process.
  m.samples_per_step =
      m.batch_size * std::max<std::int64_t>(1, record.value("ddp_processes", std::int64_t{1}));
  m.ok = record.value("status", "") == "ok";
  m.reason = record.value("reason", "");
  const auto spawn_ns = record.value("spawn_ns", std::int64_t{0});
  const auto exit_ns = record.value("exit_ns", std::int64_t{0});
  m.wall_s = Seconds(exit_ns - spawn_ns);
  // A record with "peak_rss_bytes" has the trial program's own VmHWM. Older records have only
  // wait4's max_rss_bytes, which Linux floors at fwbench's size when the trial exec'd: kept for
  // them, so that an old run is analysed into the results it wrote then.
  m.peak_rss_bytes = static_cast<double>(record.contains("peak_rss_bytes")
                                             ? record.value("peak_rss_bytes", std::int64_t{0})
                                             : record.value("max_rss_bytes", std::int64_t{0}));
  m.cpu_s = record.value("user_cpu_s", 0.0) + record.value("sys_cpu_s", 0.0);
  if (record.contains("cpu_during_steps")) m.cpu_during_steps = record["cpu_during_steps"];

  std::int64_t t_main = 0;
  std::int64_t first_t0 = -1;
  std::int64_t first_t1 = -1;
  std::vector<std::pair<std::string, std::int64_t>> phases_ns;
  for (const nlohmann::json& e : events) {
    const std::string kind = e.value("event", "");
    if (kind == "hello") {
      t_main = e.value("t_main", std::int64_t{0});
    } else if (kind == "phase") {
      const auto t0 = e.at("t0").get<std::int64_t>();
      const auto t1 = e.at("t1").get<std::int64_t>();
      // Only phases before the first step belong to the time to first batch.
      if (first_t1 < 0) {
        // A phase reported twice (e.g. two "compile" stretches) counts once, summed, so the
        // phases still add up to the time to first batch.
        const std::string name = e.at("name").get<std::string>();
        const auto same = std::find_if(phases_ns.begin(), phases_ns.end(),
                                       [&](const auto& p) { return p.first == name; });
        if (same != phases_ns.end()) {
          same->second += t1 - t0;
        } else {
          phases_ns.emplace_back(name, t1 - t0);
        }
      }
    } else if (kind == "step") {
      const auto t0 = e.at("t0").get<std::int64_t>();
      const auto t1 = e.at("t1").get<std::int64_t>();
      if (first_t1 < 0) {
        first_t0 = t0;
        first_t1 = t1;
      }
      m.step_s.push_back(Seconds(t1 - t0));
      if (e.contains("t_input"))
        m.input_wait_s.push_back(Seconds(e.at("t_input").get<std::int64_t>() - t0));
      if (e.contains("tokens")) {
        m.tokens_per_step = static_cast<double>(e.at("tokens").get<std::int64_t>());
        m.prompt_tokens_per_step = static_cast<double>(e.value("prompt_tokens", std::int64_t{0}));
        if (e.contains("t_first_token")) {
          const auto tf = e.at("t_first_token").get<std::int64_t>();
          m.ttft_s.push_back(Seconds(tf - t0));
          m.decode_s.push_back(Seconds(t1 - tf));
        }
      }
      if (e.contains("loss") && e.at("loss").is_number())
        m.losses.push_back(e.at("loss").get<double>());
    } else if (kind == "output") {
      m.outputs[e.value("name", "")] = e.value("path", "");
    } else if (kind == "metric" && e.value("name", "") == "peak_rss_bytes") {
      m.peak_rss_bytes = std::max(m.peak_rss_bytes, e.at("value").get<double>());
    } else if (kind == "metric" && e.value("name", "") == "pipeline_cpu_s") {
      m.pipeline_cpu_s = e.at("value").get<double>();
    } else if (kind == "metric" && e.value("name", "") == "pipeline_samples") {
      m.pipeline_samples = e.at("value").get<double>();
    }
  }

  if (first_t1 >= 0 && spawn_ns > 0) {
    m.ttfb_s = Seconds(first_t1 - spawn_ns);
    std::int64_t accounted = 0;
    if (t_main > 0) {
      m.phases_s.emplace_back("exec", Seconds(t_main - spawn_ns));
      accounted += t_main - spawn_ns;
    }
    for (const auto& [name, ns] : phases_ns) {
      m.phases_s.emplace_back(name, Seconds(ns));
      accounted += ns;
    }
    m.phases_s.emplace_back("first_step", Seconds(first_t1 - first_t0));
    accounted += first_t1 - first_t0;
    m.phases_s.emplace_back("other", Seconds(first_t1 - spawn_ns - accounted));
  }

  if (!m.step_s.empty()) {
    const stats::WarmupResult warmup = stats::Mser5(m.step_s);
    m.warmup_steps = warmup.truncate_steps;
    m.steady_state_found = warmup.steady_state_found;
    m.warmup_trend_z = warmup.trend_z;
    m.steady_step_s.assign(m.step_s.begin() + static_cast<std::ptrdiff_t>(m.warmup_steps),
                           m.step_s.end());
    if (m.steady_step_s.empty()) m.steady_step_s = m.step_s;
    if (m.ttft_s.size() == m.step_s.size()) {
      const std::size_t from = m.step_s.size() - m.steady_step_s.size();
      m.steady_ttft_s.assign(m.ttft_s.begin() + static_cast<std::ptrdiff_t>(from), m.ttft_s.end());
      m.steady_decode_s.assign(m.decode_s.begin() + static_cast<std::ptrdiff_t>(from),
                               m.decode_s.end());
    }
    if (m.input_wait_s.size() == m.step_s.size()) {
      const std::size_t from = m.step_s.size() - m.steady_step_s.size();
      double waited = 0.0;
      double total = 0.0;
      for (std::size_t i = from; i < m.step_s.size(); ++i) {
        waited += m.input_wait_s[i];
        total += m.step_s[i];
      }
      if (total > 0.0) m.input_wait_share = waited / total;
    }
    m.warmup_cost_s = stats::WarmupCost(m.step_s, m.warmup_steps);
    const double mean_s = stats::Mean(m.steady_step_s);
    if (mean_s <= 0.0 && m.ok) {
      // Zero-length steps: the worker's clock is too coarse for the step; no rate exists.
      m.ok = false;
      m.reason =
          "steady-state steps have zero duration: the worker's clock is too coarse "
          "(use CLOCK_MONOTONIC nanoseconds, docs/protocol.md)";
    }
    m.steps_per_s = mean_s > 0 ? 1.0 / mean_s : 0.0;
    m.samples_per_s = m.steps_per_s * static_cast<double>(m.samples_per_step);
    m.latency_p50_ms = stats::Percentile(m.steady_step_s, 50) * 1e3;
    m.latency_p90_ms = stats::Percentile(m.steady_step_s, 90) * 1e3;
    m.latency_p99_ms = stats::Percentile(m.steady_step_s, 99) * 1e3;
  }
  return m;
}

nlohmann::json ToJson(const TrialMetrics& m, bool include_series) {
  nlohmann::json phases = nlohmann::json::object();
  for (const auto& [name, s] : m.phases_s) phases[name] = s;
  nlohmann::json j = {
      {"trial", m.trial},
      {"config", m.config},
      {"task", m.task},
      {"batch_size", m.batch_size},
      {"status", m.ok ? "ok" : "failed"},
      {"reason", m.reason},
      {"steps", m.step_s.size()},
      {"ttfb_s", m.ttfb_s},
      {"phases_s", phases},
      {"warmup_steps", m.warmup_steps},
      {"steady_state_found", m.steady_state_found},
      {"warmup_trend_z", m.warmup_trend_z},
      {"warmup_cost_s", m.warmup_cost_s},
      {"steps_per_s", m.steps_per_s},
      {"samples_per_s", m.samples_per_s},
      {"latency_ms",
       {{"p50", m.latency_p50_ms}, {"p90", m.latency_p90_ms}, {"p99", m.latency_p99_ms}}},
      {"peak_rss_bytes", m.peak_rss_bytes},
      {"cpu_s", m.cpu_s},
      {"wall_s", m.wall_s},
      {"outputs", m.outputs},
  };
  // Only where a step is more than the batch (data-parallel): older results read back unchanged.
  if (m.samples_per_step > m.batch_size) j["samples_per_step"] = m.samples_per_step;
  if (!m.losses.empty()) {
    j["loss_first"] = m.losses.front();
    j["loss_last"] = m.losses.back();
  }
  if (include_series) {
    j["step_s"] = m.step_s;
    j["losses"] = m.losses;
  }
  return j;
}

}  // namespace fwbench
