#include "analysis/run_results.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "core/error.h"

namespace fwbench {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// A number of `j`, or `absent` when the key is missing or not a number (null stands for a
// non-finite value in results.json).
double Number(const nlohmann::json& j, const char* key, double absent) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : absent;
}

template <typename T>
T Get(const nlohmann::json& j, const char* key, T fallback) {
  const auto it = j.find(key);
  return it != j.end() && !it->is_null() ? it->get<T>() : fallback;
}

const nlohmann::json& Member(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kNull;
  const auto it = j.find(key);
  return it != j.end() ? *it : kNull;
}

stats::Estimate EstimateFromJson(const nlohmann::json& j) {
  return {Number(j, "median", 0.0), Number(j, "ci95_lo", 0.0), Number(j, "ci95_hi", 0.0),
          Get<std::size_t>(j, "n", 0), 0.95};
}

MetricSummary MetricFromJson(const nlohmann::json& j) {
  return {EstimateFromJson(j), Number(j, "cv", 0.0), Get<std::string>(j, "unit", "")};
}

TrialMetrics TrialMetricsFromJson(const nlohmann::json& j) {
  TrialMetrics m;
  m.trial = Get<std::string>(j, "trial", "");
  m.config = Get<std::string>(j, "config", "");
  m.task = Get<std::string>(j, "task", "");
  m.batch_size = Get<std::int64_t>(j, "batch_size", 0);
  m.samples_per_step = Get<std::int64_t>(j, "samples_per_step", m.batch_size);
  m.ok = Get<std::string>(j, "status", "") == "ok";
  m.reason = Get<std::string>(j, "reason", "");
  m.ttfb_s = Number(j, "ttfb_s", kNaN);
  for (const auto& [name, s] : Member(j, "phases_s").items()) {
    m.phases_s.emplace_back(name, s.is_number() ? s.get<double>() : kNaN);
  }
  for (const auto& s : Member(j, "step_s"))
    m.step_s.push_back(s.is_number() ? s.get<double>() : kNaN);
  for (const auto& l : Member(j, "losses"))
    m.losses.push_back(l.is_number() ? l.get<double>() : kNaN);
  m.outputs = Get<std::map<std::string, std::string>>(j, "outputs", {});
  m.warmup_steps = Get<std::size_t>(j, "warmup_steps", 0);
  m.steady_state_found = Get<bool>(j, "steady_state_found", false);
  m.warmup_trend_z = Number(j, "warmup_trend_z", kNaN);
  m.warmup_cost_s = Number(j, "warmup_cost_s", kNaN);
  m.steps_per_s = Number(j, "steps_per_s", kNaN);
  m.samples_per_s = Number(j, "samples_per_s", kNaN);
  const nlohmann::json& latency = Member(j, "latency_ms");
  m.latency_p50_ms = latency.is_object() ? Number(latency, "p50", kNaN) : kNaN;
  m.latency_p90_ms = latency.is_object() ? Number(latency, "p90", kNaN) : kNaN;
  m.latency_p99_ms = latency.is_object() ? Number(latency, "p99", kNaN) : kNaN;
  m.peak_rss_bytes = Number(j, "peak_rss_bytes", kNaN);
  m.cpu_s = Number(j, "cpu_s", kNaN);
  m.wall_s = Number(j, "wall_s", kNaN);
  return m;
}

TrialResult TrialFromJson(const nlohmann::json& j) {
  TrialResult t;
  t.metrics = TrialMetricsFromJson(j);
  t.repetition = Get<int>(j, "repetition", 0);
  t.exit_code = Get<int>(j, "exit_code", -1);
  t.signal = Get<int>(j, "signal", 0);
  t.stderr_tail = Get<std::string>(j, "stderr", "");
  return t;
}

CompileGain CompileGainFromJson(const nlohmann::json& j) {
  CompileGain g;
  g.eager_config = Get<std::string>(j, "eager_config", "");
  g.speedup = EstimateFromJson(Member(j, "speedup"));
  g.significant = Get<bool>(j, "significant", false);
  g.compile_s = Number(j, "compile_s", 0.0);
  g.extra_warmup_s = Number(j, "extra_warmup_s", 0.0);
  g.eager_step_s = Number(j, "eager_step_s", 0.0);
  g.compiled_step_s = Number(j, "compiled_step_s", 0.0);
  if (const nlohmann::json& b = Member(j, "break_even_steps"); b.is_number()) {
    g.break_even_steps = b.get<double>();
  }
  // "never" is +infinity, as ComputeCompileGain writes it; no interval at all is NaN.
  const nlohmann::json& ci = Member(j, "break_even_ci95");
  g.break_even_ci_lo = ci.is_object() ? Number(ci, "lo", kInf) : kNaN;
  g.break_even_ci_hi = ci.is_object() ? Number(ci, "hi", kInf) : kNaN;
  return g;
}

CompileResult CompileFromJson(const nlohmann::json& j) {
  CompileResult c;
  c.eager_config = Get<std::string>(j, "eager_config", "");
  if (j.contains("speedup")) {
    c.gain = CompileGainFromJson(j);
  } else {
    c.unavailable = Get<std::string>(j, "unavailable", "");
  }
  c.ranked = Get<bool>(j, "ranked", true);
  c.parity = Get<std::string>(j, "parity", "");
  return c;
}

nlohmann::json ToJson(const CompileResult& c) {
  nlohmann::json j;
  if (c.gain) {
    j = ToJson(*c.gain);
  } else {
    j = nlohmann::json::object();
    if (!c.eager_config.empty()) j["eager_config"] = c.eager_config;
    j["unavailable"] = c.unavailable;
  }
  if (!c.ranked) {
    j["ranked"] = false;
    j["parity"] = c.parity;
  }
  return j;
}

ParityResult ParityFromJson(const nlohmann::json& j) {
  ParityResult p;
  p.status = Get<std::string>(j, "status", "unchecked");
  p.problem = Get<std::string>(j, "problem", "");
  p.reference = Get<std::string>(j, "reference", "");
  p.reference_trial = Get<std::string>(j, "reference_trial", "");
  for (const char* kind : {"logits", "losses"}) {
    if (!j.contains(kind)) continue;
    p.compared = kind;
    p.comparison = j[kind];
    break;
  }
  p.tolerance = Member(j, "tolerance");
  p.envelope = Member(j, "envelope");
  return p;
}

nlohmann::json ToJson(const ParityResult& p) {
  nlohmann::json j = {{"status", p.status}};
  if (!p.problem.empty()) j["problem"] = p.problem;
  if (!p.reference.empty()) j["reference"] = p.reference;
  if (!p.reference_trial.empty()) j["reference_trial"] = p.reference_trial;
  if (!p.compared.empty()) j[p.compared] = p.comparison;
  if (!p.tolerance.is_null()) j["tolerance"] = p.tolerance;
  if (!p.envelope.is_null()) j["envelope"] = p.envelope;
  return j;
}

ConfigurationResult ConfigurationFromJson(const nlohmann::json& j) {
  ConfigurationResult c;
  ConfigSummary& s = c.summary;
  s.config = Get<std::string>(j, "config", "");
  s.task = Get<std::string>(j, "task", "");
  s.batch_size = Get<std::int64_t>(j, "batch_size", 0);
  s.trials_ok = Get<int>(j, "trials_ok", 0);
  s.trials_failed = Get<int>(j, "trials_failed", 0);
  for (const auto& [name, m] : Member(j, "metrics").items()) s.metrics[name] = MetricFromJson(m);
  s.warnings = Get<std::vector<std::string>>(j, "warnings", {});
  c.backend = Get<std::string>(j, "backend", "");
  c.mode = Get<std::string>(j, "mode", "");
  c.precision = Get<std::string>(j, "precision", "fp32");
  c.memory_format = Get<std::string>(j, "memory_format", "contiguous");
  c.threads = Get<int>(j, "threads", 0);
  if (j.contains("compile")) c.compile = CompileFromJson(j["compile"]);
  if (j.contains("ddp_scaling") && j["ddp_scaling"].is_object()) {
    if (j["ddp_scaling"].contains("unavailable")) {
      c.ddp_scaling_unavailable = Get<std::string>(j["ddp_scaling"], "unavailable", "");
    } else {
      c.ddp_scaling = DdpScalingFromJson(j["ddp_scaling"]);
    }
  }
  if (j.contains("parity")) c.parity = ParityFromJson(j["parity"]);
  c.ranked = Get<bool>(j, "ranked", false);
  if (j.contains("pipeline") && j["pipeline"].is_object()) {
    const nlohmann::json& p = j["pipeline"];
    c.pipeline = PipelineFacts{.loader = Get<std::string>(p, "loader", ""),
                               .workers = Get<int>(p, "workers", 0),
                               .model_step = Get<std::string>(p, "model_step", "none"),
                               .cache = Get<bool>(p, "cache", false),
                               .source = Get<std::string>(p, "source", ""),
                               .settings = p.value("settings", nlohmann::json::object()),
                               .recommended = Get<std::string>(p, "recommended", ""),
                               .check = Get<std::string>(p, "check", "unchecked"),
                               .check_detail = Get<std::string>(p, "check_detail", "")};
  }
  return c;
}

void RequireArray(const nlohmann::json& j, const char* key, const std::string& source) {
  if (j.contains(key) && !j[key].is_array()) {
    throw UsageError(
        fmt::format("{}: \"{}\" is {}, expected an array; is this a results.json "
                    "written by `fwbench run` or `fwbench report`?",
                    source, key, j[key].type_name()));
  }
}

RunResults RunResultsFromJsonOrThrow(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) {
    throw UsageError(
        fmt::format("{}: expected a JSON object (results.json, docs/results.md)", source));
  }
  for (const char* key :
       {"configurations", "pipelines", "trials", "warnings", "notes", "verdicts", "pick"}) {
    RequireArray(j, key, source);
  }
  RunResults r;
  r.schema_version = Get<int>(j, "schema_version", 1);
  if (r.schema_version > kResultsSchemaVersion) {
    throw UsageError(fmt::format(
        "{}: written by a newer fwbench (results schema version {}; this fwbench reads version "
        "{} and older); read it with the fwbench that wrote it, or update this one",
        source, r.schema_version, kResultsSchemaVersion));
  }
  r.run_id = Get<std::string>(j, "run_id", "");
  r.started_utc = Get<std::string>(j, "started_utc", "");
  r.analysed_utc = Get<std::string>(j, "analysed_utc", "");
  r.complete = Get<bool>(j, "complete", true);
  r.plan = j.value("plan", nlohmann::json::object());
  const nlohmann::json& inputs = Member(j, "inputs");
  if (inputs.is_object()) {
    r.inputs = {Get<std::string>(inputs, "data_dir", ""), Get<std::string>(inputs, "weights", ""),
                Get<int>(inputs, "threads", 0)};
  }
  r.env = j.value("env", nlohmann::json::object());
  for (const nlohmann::json& c : Member(j, "configurations")) {
    r.configurations.push_back(ConfigurationFromJson(c));
  }
  for (const nlohmann::json& c : Member(j, "pipelines")) {
    r.pipelines.push_back(ConfigurationFromJson(c));
  }
  for (const nlohmann::json& t : Member(j, "trials")) r.trials.push_back(TrialFromJson(t));
  r.warnings = Get<std::vector<std::string>>(j, "warnings", {});
  r.notes = Get<std::vector<std::string>>(j, "notes", {});
  if (j.contains("deployment")) r.deployment = j["deployment"];
  if (j.contains("dx")) r.dx = j["dx"];
  if (j.contains("llm_export")) r.llm_export = j["llm_export"];
  if (j.contains("user_model")) r.user_model = j["user_model"];
  r.verdict_threshold = Number(j, "verdict_threshold", 0.05);
  for (const nlohmann::json& v : Member(j, "verdicts")) r.verdicts.push_back(VerdictFromJson(v));
  r.pick = Get<std::vector<std::string>>(j, "pick", {});
  return r;
}

}  // namespace

const MetricSummary* ConfigurationResult::Metric(std::string_view name) const {
  const auto it = summary.metrics.find(std::string(name));
  return it == summary.metrics.end() ? nullptr : &it->second;
}

std::string ConfigurationResult::ParityStatus() const {
  return parity ? parity->status : std::string("unchecked");
}

const ConfigurationResult* RunResults::Configuration(std::string_view id) const {
  for (const ConfigurationResult& c : configurations) {
    if (c.id() == id) return &c;
  }
  return nullptr;
}

std::map<std::string, std::string> RunResults::RefusedRuntimes() const {
  std::map<std::string, std::string> refused;
  if (!user_model) return refused;
  // A named copy: items() of a temporary would outlive it in the loop.
  const nlohmann::json runtimes = user_model->value("runtimes", nlohmann::json::object());
  for (const auto& [backend, r] : runtimes.items()) {
    if (r.is_object() && r.contains("refused")) refused[backend] = r.value("refused", "");
  }
  return refused;
}

nlohmann::json ToJson(const TrialResult& t) {
  nlohmann::json j = ToJson(t.metrics, /*include_series=*/true);
  j["repetition"] = t.repetition;
  j["exit_code"] = t.exit_code;
  j["signal"] = t.signal;
  j["stderr"] = t.stderr_tail;
  return j;
}

nlohmann::json ToJson(const ConfigurationResult& c) {
  nlohmann::json j = ToJson(c.summary);
  j["backend"] = c.backend;
  j["mode"] = c.mode;
  j["precision"] = c.precision;
  j["memory_format"] = c.memory_format;
  j["threads"] = c.threads;
  if (c.compile) j["compile"] = ToJson(*c.compile);
  if (c.ddp_scaling) {
    j["ddp_scaling"] = ToJson(*c.ddp_scaling);
  } else if (!c.ddp_scaling_unavailable.empty()) {
    j["ddp_scaling"] = {{"unavailable", c.ddp_scaling_unavailable}};
  }
  if (c.parity) j["parity"] = ToJson(*c.parity);
  j["ranked"] = c.ranked;
  if (c.pipeline) {
    const PipelineFacts& p = *c.pipeline;
    j["pipeline"] = {{"loader", p.loader},
                     {"workers", p.workers},
                     {"model_step", p.model_step},
                     {"cache", p.cache},
                     {"source", p.source},
                     {"settings", p.settings},
                     {"recommended", p.recommended},
                     {"check", p.check},
                     {"check_detail", p.check_detail}};
  }
  return j;
}

nlohmann::json ToJson(const RunResults& r) {
  nlohmann::json configurations = nlohmann::json::array();
  for (const ConfigurationResult& c : r.configurations) configurations.push_back(ToJson(c));
  nlohmann::json trials = nlohmann::json::array();
  for (const TrialResult& t : r.trials) trials.push_back(ToJson(t));
  nlohmann::json verdicts = nlohmann::json::array();
  for (const Verdict& v : r.verdicts) verdicts.push_back(ToJson(v));
  nlohmann::json j = {
      {"schema_version", r.schema_version},
      {"run_id", r.run_id},
      {"started_utc", r.started_utc},
      {"analysed_utc", r.analysed_utc},
      {"complete", r.complete},
      {"plan", r.plan},
      {"inputs",
       {{"data_dir", r.inputs.data_dir},
        {"weights", r.inputs.weights},
        {"threads", r.inputs.threads}}},
      {"env", r.env},
      {"configurations", std::move(configurations)},
      {"trials", std::move(trials)},
      {"warnings", r.warnings},
      {"notes", r.notes},
      {"verdict_threshold", r.verdict_threshold},
      {"verdicts", std::move(verdicts)},
      {"pick", r.pick},
  };
  if (!r.pipelines.empty()) {
    nlohmann::json pipelines = nlohmann::json::array();
    for (const ConfigurationResult& c : r.pipelines) pipelines.push_back(ToJson(c));
    j["pipelines"] = std::move(pipelines);
  }
  if (r.deployment) j["deployment"] = *r.deployment;
  if (r.dx) j["dx"] = *r.dx;
  if (r.llm_export) j["llm_export"] = *r.llm_export;
  if (r.user_model) j["user_model"] = *r.user_model;
  return j;
}

RunResults RunResultsFromJson(const nlohmann::json& results, const std::string& source) {
  try {
    return RunResultsFromJsonOrThrow(results, source);
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(fmt::format(
        "{}: a field has an unexpected type ({}); results.json's fields are in docs/results.md",
        source, e.what()));
  }
}

}  // namespace fwbench
