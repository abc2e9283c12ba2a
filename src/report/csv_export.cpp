#include "report/csv_export.h"

#include <fmt/format.h>

#include <fstream>
#include <map>
#include <vector>

namespace fwbench {

namespace {

// A JSON scalar as CSV text: numbers with full precision, null/missing as empty.
std::string Text(const nlohmann::json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return CsvField(v.get<std::string>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  if (v.is_number()) return fmt::format("{}", v.get<double>());
  return CsvField(v.dump());
}

const nlohmann::json& At(const nlohmann::json& j, const std::vector<std::string>& path) {
  static const nlohmann::json kNull;
  const nlohmann::json* cur = &j;
  for (const std::string& key : path) {
    if (!cur->is_object() || !cur->contains(key)) return kNull;
    cur = &(*cur)[key];
  }
  return *cur;
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

void WriteCsv(const std::filesystem::path& run_dir, const nlohmann::json& results) {
  static const nlohmann::json kEmpty = nlohmann::json::array();
  // References into `results`, not into a copy: the map keeps pointers.
  const nlohmann::json& all_configs =
      results.contains("configurations") ? results["configurations"] : kEmpty;
  const nlohmann::json& all_trials = results.contains("trials") ? results["trials"] : kEmpty;
  std::map<std::string, const nlohmann::json*> configs;
  for (const auto& c : all_configs) {
    configs[c.value("config", "")] = &c;
  }
  const std::vector<std::string> identity = {"backend",   "mode",          "task",   "batch_size",
                                             "precision", "memory_format", "threads"};

  std::vector<std::string> th = {"run_id", "trial", "config"};
  th.insert(th.end(), identity.begin(), identity.end());
  const std::vector<std::string> trial_fields = {
      "repetition",   "status",        "reason",         "steps",    "ttfb_s",
      "steps_per_s",  "samples_per_s", "peak_rss_bytes", "cpu_s",    "wall_s",
      "warmup_steps", "warmup_cost_s", "loss_first",     "loss_last"};
  th.insert(th.end(), trial_fields.begin(), trial_fields.end());
  th.insert(th.end(), {"latency_p50_ms", "latency_p90_ms", "latency_p99_ms"});
  std::vector<std::vector<std::string>> trows;
  for (const auto& t : all_trials) {
    std::vector<std::string> r = {Text(results.value("run_id", "")), Text(t.value("trial", "")),
                                  Text(t.value("config", ""))};
    const auto it = configs.find(t.value("config", ""));
    for (const std::string& k : identity) {
      r.push_back(it == configs.end() ? "" : Text(At(*it->second, {k})));
    }
    for (const std::string& k : trial_fields) r.push_back(Text(At(t, {k})));
    for (const char* p : {"p50", "p90", "p99"}) r.push_back(Text(At(t, {"latency_ms", p})));
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
  std::vector<std::vector<std::string>> crows;
  for (const auto& c : all_configs) {
    std::vector<std::string> r = {Text(results.value("run_id", "")), Text(c.value("config", ""))};
    for (const std::string& k : identity) r.push_back(Text(At(c, {k})));
    r.push_back(Text(At(c, {"trials_ok"})));
    r.push_back(Text(At(c, {"trials_failed"})));
    r.push_back(Text(At(c, {"parity", "status"})));
    r.push_back(Text(At(c, {"ranked"})));
    for (const std::string& m : kMetrics) {
      for (const char* f : {"median", "ci95_lo", "ci95_hi"}) {
        r.push_back(Text(At(c, {"metrics", m, f})));
      }
    }
    for (const char* f : {"median", "ci95_lo", "ci95_hi"}) {
      r.push_back(Text(At(c, {"compile", "speedup", f})));
    }
    r.push_back(Text(At(c, {"compile", "compile_s"})));
    r.push_back(Text(At(c, {"compile", "break_even_steps"})));
    crows.push_back(std::move(r));
  }
  WriteFile(run_dir / "configurations.csv", ch, crows);
}

}  // namespace fwbench
