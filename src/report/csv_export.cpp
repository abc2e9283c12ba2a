#include "report/csv_export.h"

#include <fmt/format.h>

#include <fstream>
#include <map>
#include <vector>

namespace fwbench {

namespace {

// A value as results.json holds it, as CSV text: numbers with full precision, null as empty.
// Typed values go through their JSON form (implicitly), so that every cell reads as it did when
// these files were written from results.json: integers without a point, doubles as the shortest
// text that reads back the same.
std::string Text(const nlohmann::json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return CsvField(v.get<std::string>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  if (v.is_number()) return fmt::format("{}", v.get<double>());
  return CsvField(v.dump());
}

void WriteFile(const std::filesystem::path& path, const std::vector<std::string>& header,
               const std::vector<std::vector<std::string>>& rows) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp);
    const auto line = [&](const std::vector<std::string>& fields) {
      for (std::size_t i = 0; i < fields.size(); ++i) out << (i ? "," : "") << fields[i];
      out << "\r\n";
    };
    line(header);
    for (const auto& r : rows) line(r);
    if (!out) throw std::runtime_error(fmt::format("cannot write {}", tmp.string()));
  }
  std::filesystem::rename(tmp, path);
}

// Metrics of configurations.csv: each gives <name>, <name>_ci95_lo, <name>_ci95_hi.
const std::vector<std::string> kMetrics = {"ttfb_s",         "steps_per_s",    "samples_per_s",
                                           "latency_p50_ms", "latency_p90_ms", "latency_p99_ms",
                                           "peak_rss_mb",    "cpu_s",          "warmup_steps",
                                           "warmup_cost_s",  "loss_first",     "loss_last"};

const std::vector<std::string> kPipelineMetrics = {"cpu_s_per_1k_samples", "input_wait_share"};

// The configuration's identity, in the order of the header's identity columns.
std::vector<std::string> IdentityCells(const ConfigurationResult& c) {
  return {Text(c.backend),   Text(c.mode),          Text(c.task()), Text(c.summary.batch_size),
          Text(c.precision), Text(c.memory_format), Text(c.threads)};
}

// A median and its 95% CI: three cells, empty when it was not measured.
void AppendEstimate(std::vector<std::string>& row, const stats::Estimate* e) {
  if (e == nullptr) {
    row.insert(row.end(), 3, std::string());
  } else {
    row.insert(row.end(), {Text(e->value), Text(e->ci_lo), Text(e->ci_hi)});
  }
}

}  // namespace

std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

void WriteCsv(const std::filesystem::path& run_dir, const RunResults& results) {
  std::map<std::string, const ConfigurationResult*> configs;
  for (const ConfigurationResult& c : results.configurations) configs[c.id()] = &c;
  for (const ConfigurationResult& c : results.pipelines) configs[c.id()] = &c;
  const std::vector<std::string> identity = {"backend",   "mode",          "task",   "batch_size",
                                             "precision", "memory_format", "threads"};

  std::vector<std::string> th = {"run_id", "trial", "config"};
  th.insert(th.end(), identity.begin(), identity.end());
  // The rows below give these in this order.
  const std::vector<std::string> trial_fields = {
      "repetition",   "status",        "reason",         "steps",    "ttfb_s",
      "steps_per_s",  "samples_per_s", "peak_rss_bytes", "cpu_s",    "wall_s",
      "warmup_steps", "warmup_cost_s", "loss_first",     "loss_last"};
  th.insert(th.end(), trial_fields.begin(), trial_fields.end());
  th.insert(th.end(), {"latency_p50_ms", "latency_p90_ms", "latency_p99_ms"});
  std::vector<std::vector<std::string>> trows;
  trows.reserve(results.trials.size());
  for (const TrialResult& t : results.trials) {
    const TrialMetrics& m = t.metrics;
    std::vector<std::string> r = {Text(results.run_id), Text(m.trial), Text(m.config)};
    if (const auto it = configs.find(m.config); it != configs.end()) {
      const std::vector<std::string> cells = IdentityCells(*it->second);
      r.insert(r.end(), cells.begin(), cells.end());
    } else {
      r.insert(r.end(), identity.size(), std::string());
    }
    // results.json has loss_first and loss_last only for trials that reported losses.
    r.insert(r.end(),
             {Text(t.repetition), Text(m.ok ? "ok" : "failed"), Text(m.reason),
              Text(m.step_s.size()), Text(m.ttfb_s), Text(m.steps_per_s), Text(m.samples_per_s),
              Text(m.peak_rss_bytes), Text(m.cpu_s), Text(m.wall_s), Text(m.warmup_steps),
              Text(m.warmup_cost_s), m.losses.empty() ? "" : Text(m.losses.front()),
              m.losses.empty() ? "" : Text(m.losses.back()), Text(m.latency_p50_ms),
              Text(m.latency_p90_ms), Text(m.latency_p99_ms)});
    trows.push_back(std::move(r));
  }
  WriteFile(run_dir / "trials.csv", th, trows);

  std::vector<std::string> ch = {"run_id", "config"};
  ch.insert(ch.end(), identity.begin(), identity.end());
  ch.insert(ch.end(), {"trials_ok", "trials_failed", "parity", "ranked"});
  for (const std::string& m : kMetrics) {
    ch.insert(ch.end(), {m, m + "_ci95_lo", m + "_ci95_hi"});
  }
  ch.insert(ch.end(), {"compile_speedup", "compile_speedup_ci95_lo", "compile_speedup_ci95_hi",
                       "compile_s", "break_even_steps"});
  // Input pipelines (task input_pipeline): their loader, its setting, the batch check, and the
  // pipeline's own figures; empty for the other configurations.
  ch.insert(ch.end(), {"loader", "loader_workers", "model_step", "batch_check"});
  for (const std::string& m : kPipelineMetrics) {
    ch.insert(ch.end(), {m, m + "_ci95_lo", m + "_ci95_hi"});
  }
  std::vector<std::vector<std::string>> crows;
  crows.reserve(results.configurations.size() + results.pipelines.size());
  std::vector<const ConfigurationResult*> rows;
  for (const ConfigurationResult& c : results.configurations) rows.push_back(&c);
  for (const ConfigurationResult& c : results.pipelines) rows.push_back(&c);
  for (const ConfigurationResult* row : rows) {
    const ConfigurationResult& c = *row;
    std::vector<std::string> r = {Text(results.run_id), Text(c.id())};
    const std::vector<std::string> cells = IdentityCells(c);
    r.insert(r.end(), cells.begin(), cells.end());
    r.push_back(Text(c.summary.trials_ok));
    r.push_back(Text(c.summary.trials_failed));
    r.push_back(c.parity ? Text(c.parity->status) : "");
    r.push_back(Text(c.ranked));
    for (const std::string& name : kMetrics) {
      const MetricSummary* m = c.Metric(name);
      AppendEstimate(r, m == nullptr ? nullptr : &m->estimate);
    }
    // A compile result without a gain (`unavailable`) has no figures.
    const CompileGain* gain = c.compile && c.compile->gain ? &*c.compile->gain : nullptr;
    AppendEstimate(r, gain == nullptr ? nullptr : &gain->speedup);
    r.push_back(gain == nullptr ? "" : Text(gain->compile_s));
    if (gain == nullptr) {
      r.emplace_back();
    } else {
      // results.json says "never" where compiled never pays off.
      r.push_back(gain->break_even_steps ? Text(*gain->break_even_steps) : Text("never"));
    }
    if (c.pipeline) {
      r.insert(r.end(), {Text(c.pipeline->loader), Text(c.pipeline->workers),
                         Text(c.pipeline->model_step), Text(c.pipeline->check)});
    } else {
      r.insert(r.end(), 4, std::string());
    }
    for (const std::string& name : kPipelineMetrics) {
      const MetricSummary* m = c.Metric(name);
      AppendEstimate(r, m == nullptr ? nullptr : &m->estimate);
    }
    crows.push_back(std::move(r));
  }
  WriteFile(run_dir / "configurations.csv", ch, crows);
}

}  // namespace fwbench
