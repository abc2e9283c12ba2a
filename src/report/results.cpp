#include "report/results.h"

#include <fmt/format.h>
#include <algorithm>

#include <fstream>
#include <map>

#include "analysis/compile_gain.h"
#include "analysis/config_summary.h"
#include "analysis/pipeline_check.h"
#include "analysis/trial_metrics.h"
#include "analysis/verdict.h"
#include "core/atomic_file.h"
#include "core/bounded_json.h"
#include "core/error.h"
#include "core/trial_spec.h"
#include "core/utc_time.h"
#include "orchestrate/builtin_workers.h"
#include "report/llm_export_section.h"
#include "report/machine_types.h"
#include "report/model_flops.h"
#include "report/parity_gate.h"

namespace fwbench {

namespace {
// The smallest advantage the verdict matrix calls a win: under it, "tie — within noise".
constexpr double kVerdictThreshold = 0.05;
}  // namespace

namespace {

// Reads a JSON Lines file; a torn last line (the orchestrator was killed mid-write) is skipped
// and counted rather than failing the whole report.
std::vector<nlohmann::json> ReadJsonLines(const std::filesystem::path& path, int& skipped) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    nlohmann::json j = ParseJsonOrDiscard(line);
    if (j.is_discarded() || !j.is_object()) {
      ++skipped;
      continue;
    }
    lines.push_back(std::move(j));
  }
  return lines;
}

// The eager twin of a compiled configuration: same backend, task, batch size, precision,
// memory format and threads.
CompileResult CompileGainFor(const nlohmann::json& config, const nlohmann::json& all,
                             const std::map<std::string, std::vector<TrialMetrics>>& by_config) {
  for (const nlohmann::json& c : all) {
    const auto same = [&](const char* key) {
      return c.value(key, nlohmann::json()) == config.value(key, nlohmann::json());
    };
    if (c.value("mode", "") != "eager" || !same("backend") || !same("task") ||
        !same("batch_size") || !same("precision") || !same("memory_format") || !same("threads") ||
        !same("machine_type") || !same("ddp_processes") || !same("ddp_hosts")) {
      continue;
    }
    const std::string eager_id = c.value("id", "");
    const auto eager = by_config.find(eager_id);
    const auto compiled = by_config.find(config.value("id", ""));
    try {
      if (eager == by_config.end() || compiled == by_config.end()) {
        throw std::invalid_argument("no trial ran");
      }
      CompileResult result;
      result.eager_config = eager_id;
      result.gain = ComputeCompileGain(eager_id, eager->second, compiled->second);
      return result;
    } catch (const std::invalid_argument& e) {
      CompileResult result;
      result.eager_config = eager_id;
      result.unavailable = e.what();
      return result;
    }
  }
  CompileResult none;
  none.unavailable =
      "the plan has no eager configuration to compare with (same backend, task, batch size, "
      "precision, memory format, threads)";
  return none;
}

// A data-parallel configuration on N > 1 processes against its one-process twin: same backend,
// mode, batch size, precision, memory format, threads and machine type, one process, one host.
void AddDdpScaling(ConfigurationResult& r, const nlohmann::json& config, const nlohmann::json& all,
                   const std::map<std::string, std::vector<TrialMetrics>>& by_config) {
  const int processes = config.value("ddp_processes", 1);
  if (config.value("task", "") != kTaskTrainDdp || processes <= 1) return;
  for (const nlohmann::json& c : all) {
    const auto same = [&](const char* key) {
      return c.value(key, nlohmann::json()) == config.value(key, nlohmann::json());
    };
    if (!same("backend") || !same("mode") || !same("task") || !same("batch_size") ||
        !same("precision") || !same("memory_format") || !same("threads") || !same("machine_type") ||
        c.value("ddp_processes", 0) != 1 || c.value("ddp_hosts", 0) != 1) {
      continue;
    }
    const std::string base = c.value("id", "");
    const auto one = by_config.find(base);
    const auto many = by_config.find(config.value("id", ""));
    try {
      if (one == by_config.end() || many == by_config.end()) {
        throw std::invalid_argument("no trial ran");
      }
      r.ddp_scaling = ComputeDdpScaling(base, processes, config.value("ddp_hosts", 1), one->second,
                                        many->second);
    } catch (const std::invalid_argument& e) {
      r.ddp_scaling_unavailable = fmt::format("against {}: {}", base, e.what());
    }
    return;
  }
  r.ddp_scaling_unavailable = "no one-process twin in this run (add 1 to --ddp-processes)";
}

}  // namespace

nlohmann::json ReadRunJsonFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    throw UsageError(fmt::format("{}: missing; is {} a run folder written by `fwbench run`?",
                                 path.string(), path.parent_path().string()));
  }
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (const auto at = JsonTooDeepAt(text)) {
    throw UsageError(fmt::format("{}: {}", path.string(), JsonTooDeepMessage(*at)));
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) throw UsageError(fmt::format("{}: not valid JSON", path.string()));
  return j;
}

namespace {

// An input_pipeline configuration's facts: its settings from the manifest, what its first
// successful trial set (hello), and its first batches checked against the reference.
PipelineFacts PipelineFactsFor(const nlohmann::json& config,
                               const std::vector<TrialMetrics>& trials,
                               std::map<std::string, std::vector<nlohmann::json>>& events_by_trial,
                               const std::filesystem::path& run_dir) {
  PipelineFacts p;
  p.loader = config.value("loader", "");
  p.workers = config.value("loader_workers", 0);
  p.model_step = config.value("model_step", "none");
  p.cache = config.value("pipeline_cache", false);
  p.check_detail = "no successful trial wrote its first batches";
  for (const TrialMetrics& t : trials) {
    if (!t.ok) continue;
    for (const nlohmann::json& e : events_by_trial[t.trial]) {
      if (e.value("event", "") != "hello" || !p.settings.empty()) continue;
      const nlohmann::json pipeline =
          e.value("extra", nlohmann::json::object()).value("pipeline", nlohmann::json::object());
      p.settings = pipeline.value("settings", nlohmann::json::object());
      p.recommended = pipeline.value("recommended", "");
    }
    const std::filesystem::path dir = run_dir / "trials" / t.trial;
    if (p.source.empty()) {
      try {
        p.source = ReadTrialSpec(dir / "spec.json").pipeline.source;
      } catch (const std::exception&) {
        // A trial folder without its spec: the source stays unnamed.
      }
    }
    if (!t.outputs.contains("pipeline_batches") || p.check != "unchecked") continue;
    // Checked once, when the run is analysed, and kept beside the batches: a report made after
    // the data moved or changed says what was checked then.
    const std::filesystem::path kept = dir / "pipeline_check.json";
    try {
      if (std::filesystem::is_regular_file(kept)) {
        const nlohmann::json j = ReadRunJsonFile(kept);
        p.check = j.value("status", "unchecked");
        p.check_detail = j.value("detail", "");
        continue;
      }
      const PipelineCheck check = CheckPipelineBatches(ReadTrialSpec(dir / "spec.json"),
                                                       dir / "pipeline_batches.safetensors");
      p.check = check.status;
      p.check_detail = check.detail;
      if (check.status != "unchecked") {
        WriteFileAtomically(
            kept,
            nlohmann::json{{"status", check.status}, {"detail", check.detail}}.dump(2) + "\n");
      }
    } catch (const std::exception& e) {
      p.check_detail = e.what();
    }
  }
  return p;
}

}  // namespace

RunResults BuildResultsOrThrow(const std::filesystem::path& run_dir) {
  if (!std::filesystem::is_directory(run_dir)) {
    throw UsageError(fmt::format(
        "{}: no such run folder; `fwbench history --out RESULTS` lists the runs of a results "
        "folder",
        run_dir.string()));
  }
  nlohmann::json manifest = ReadRunJsonFile(run_dir / "manifest.json");
  if (const int schema = manifest.value("schema_version", 1); schema > kResultsSchemaVersion) {
    throw UsageError(fmt::format(
        "{}: written by a newer fwbench (run folder schema version {}; this fwbench reads "
        "version {} and older); report it with the fwbench that ran it, or update this one",
        (run_dir / "manifest.json").string(), schema, kResultsSchemaVersion));
  }
  const nlohmann::json env = ReadRunJsonFile(run_dir / "env.json");
  int skipped = 0;
  std::vector<nlohmann::json> records = ReadJsonLines(run_dir / "trials.jsonl", skipped);
  const std::size_t planned_configs = manifest.at("configurations").size();
  const std::string machines_note = SplitByMachineType(manifest, records);
  std::map<std::string, std::vector<nlohmann::json>> events_by_trial;
  for (nlohmann::json& e : ReadJsonLines(run_dir / "events.jsonl", skipped)) {
    events_by_trial[e.value("trial", "")].push_back(std::move(e));
  }

  std::map<std::string, std::vector<TrialMetrics>> by_config;
  std::map<std::string, std::vector<TrialMetrics>> probes_by_config;
  RunResults results;
  int measured_records = 0;
  std::vector<std::string> warmup_failures;
  int interrupted = 0;
  for (const nlohmann::json& record : records) {
    if (record.value("status", "") == "interrupted") {
      ++interrupted;  // stopped by the user: measured nothing, and no fault of its backend
      continue;
    }
    if (record.value("role", "") == "warmup") {
      // Filled the page cache for the measured trials; a failure still says something.
      if (record.value("status", "") != "ok") {
        warmup_failures.push_back(fmt::format("{}: its warm-up trial failed: {}",
                                              record.value("config", ""),
                                              record.value("reason", "")));
      }
      continue;
    }
    TrialMetrics m = ComputeTrialMetrics(record, events_by_trial[record.value("trial", "")]);
    if (record.value("role", "") == "rounding_probe") {
      // Calibrates the parity gate; not a measurement of its configuration.
      probes_by_config[m.config].push_back(std::move(m));
      continue;
    }
    ++measured_records;
    by_config[m.config].push_back(m);
    results.trials.push_back({std::move(m), record.value("repetition", 0),
                              record.value("exit_code", -1), record.value("signal", 0),
                              record.value("stderr", "")});
  }

  const double cv_warn = std::stod(manifest.at("plan").value("cv_warn", "0.1"));
  const std::map<int, MatmulPeak> matmul_peaks = BestMatmulPeaks(env);
  std::vector<ConfigurationResult>& configs = results.configurations;
  std::vector<std::string>& warnings = results.warnings;
  // Configurations in plan order, including ones that never got to run.
  for (const nlohmann::json& c : manifest.at("configurations")) {
    const std::string id = c.at("id").get<std::string>();
    const std::string task = c.at("task").get<std::string>();
    const auto batch_size = c.at("batch_size").get<std::int64_t>();
    ConfigSummary s;
    try {
      s = SummarizeConfig(id, task, batch_size, by_config[id], cv_warn);
    } catch (const std::invalid_argument& e) {
      // One unanalysable configuration must not cost the results of all the others.
      s = ConfigSummary{};
      s.config = id;
      s.task = task;
      s.batch_size = batch_size;
      s.warnings.push_back(fmt::format("could not be analysed: {}", e.what()));
    }
    ConfigurationResult r;
    r.summary = std::move(s);
    r.backend = c.at("backend").get<std::string>();
    r.mode = c.at("mode").get<std::string>();
    r.precision = c.value("precision", "fp32");
    r.memory_format = c.value("memory_format", "contiguous");
    r.threads = c.value("threads", 0);
    if (task == kTaskInputPipeline) {
      r.pipeline = PipelineFactsFor(c, by_config[id], events_by_trial, run_dir);
      if (by_config[id].empty())
        r.summary.warnings.emplace_back("no trial of this configuration ran");
      if (r.pipeline->check == "differs") {
        r.summary.warnings.push_back(
            fmt::format("its batches differ from the reference's: {}", r.pipeline->check_detail));
      }
      for (const std::string& w : r.summary.warnings)
        warnings.push_back(fmt::format("{}: {}", id, w));
      results.pipelines.push_back(std::move(r));
      continue;
    }
    AddModelFlopsUtilisation(r, manifest, matmul_peaks);
    // Compiled modes of backends that have an eager mode in this run; backends without one
    // (tfjs's wasm/cpu, ONNX Runtime) have no compile step to weigh.
    const auto& all = manifest.at("configurations");
    const bool backend_has_eager = std::any_of(all.begin(), all.end(), [&](const auto& o) {
      return o.value("backend", "") == c.value("backend", "") && o.value("mode", "") == "eager";
    });
    const bool compiled_mode = c.value("backend", "") == kLibtorchBackend || backend_has_eager;
    if (r.mode != "eager" && compiled_mode) r.compile = CompileGainFor(c, all, by_config);
    AddDdpScaling(r, c, all, by_config);
    if (by_config[id].empty())
      r.summary.warnings.emplace_back("no trial of this configuration ran");
    for (const std::string& w : r.summary.warnings)
      warnings.push_back(fmt::format("{}: {}", id, w));
    configs.push_back(std::move(r));
  }
  const nlohmann::json user_model = manifest.value("user_model", nlohmann::json::object());
  // The gate compares models; an input pipeline's correctness is its batch check.
  nlohmann::json gated = nlohmann::json::array();
  for (const nlohmann::json& c : manifest.at("configurations")) {
    if (c.value("task", "") != kTaskInputPipeline) gated.push_back(c);
  }
  ApplyParityGate(gated, by_config, probes_by_config, run_dir, configs, warnings,
                  user_model.value("reference", ""));
  for (ConfigurationResult& c : configs) {
    if (c.compile && !c.ranked) {
      c.compile->ranked = false;  // a speed-up of a different function means nothing
      c.compile->parity = c.ParityStatus();
    }
  }
  int fewest_ok = -1;
  for (const auto* list : {&configs, &results.pipelines}) {
    for (const ConfigurationResult& c : *list) {
      const int ok = c.summary.trials_ok;
      if (fewest_ok < 0 || ok < fewest_ok) fewest_ok = ok;
    }
  }
  // Caveats of the plan itself, not anomalies of this run: printed as notes.
  if (fewest_ok > 0 && fewest_ok < 5) {
    results.notes.push_back(fmt::format(
        "{} successful trials per configuration: a 95% CI across so few processes is coarse (with "
        "3 "
        "it is [min, max], which covers the true median about 75% of the time; "
        "docs/statistics.md); use --trials 5 or more before deciding on small differences",
        fewest_ok));
  }
  for (const std::string& w : warmup_failures) warnings.push_back(w);
  if (skipped > 0) {
    warnings.push_back(
        fmt::format("{} torn or unreadable lines in trials.jsonl/events.jsonl were skipped "
                    "(the run was probably interrupted)",
                    skipped));
  }
  if (!machines_note.empty()) results.notes.push_back(machines_note);
  if (manifest.contains("llm") && manifest.at("plan").value("device", "cpu") == "cpu") {
    for (std::string& n : MatmulPeakNotes(matmul_peaks)) results.notes.push_back(std::move(n));
  }
  const int expected =
      static_cast<int>(planned_configs) * std::stoi(manifest.at("plan").value("trials", "1"));
  results.complete = measured_records == expected;
  if (!results.complete) {
    warnings.push_back(fmt::format(
        "the run is incomplete: {} of {} trials recorded{}", measured_records, expected,
        interrupted > 0 ? fmt::format(" ({} interrupted when the run was stopped)", interrupted)
                        : ""));
  }

  results.schema_version = kResultsSchemaVersion;
  results.run_id = manifest.value("run_id", run_dir.filename().string());
  results.started_utc = manifest.value("started_utc", "");
  results.analysed_utc = UtcTimestamp("%Y-%m-%dT%H:%M:%SZ");
  results.plan = manifest.at("plan");
  results.inputs = {manifest.value("data_dir", ""), manifest.value("weights", ""),
                    env.value("threads", manifest.value("threads", 0))};
  results.env = env;
  if (manifest.contains("user_model")) results.user_model = manifest["user_model"];
  // `fwbench deploy --into` leaves its measurements beside the run's (docs/serve.md).
  if (std::filesystem::is_regular_file(run_dir / "deploy.json")) {
    results.deployment = ReadRunJsonFile(run_dir / "deploy.json");
  }
  // `fwbench dx --into` too (docs/dx.md).
  if (std::filesystem::is_regular_file(run_dir / "dx.json")) {
    results.dx = ReadRunJsonFile(run_dir / "dx.json");
  }
  // Who wins what, only among configurations that passed the parity gate (docs/results.md).
  results.verdict_threshold = kVerdictThreshold;
  results.verdicts = BuildVerdicts(results, kVerdictThreshold);
  results.pick = PickLines(results.verdicts);
  // `fwbench llm-export` leaves its matrix in the run folder (docs/llm.md).
  if (std::filesystem::is_regular_file(run_dir / "export" / "matrix.json")) {
    results.llm_export = ReadRunJsonFile(run_dir / "export" / "matrix.json");
    results.pick.push_back(report::LlmExportVerdict(*results.llm_export));
  }
  return results;
}

RunResults BuildResults(const std::filesystem::path& run_dir) {
  try {
    return BuildResultsOrThrow(run_dir);
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(
        fmt::format("{}: a file of this run folder (manifest.json, trials.jsonl or "
                    "events.jsonl) has an unexpected shape: {}",
                    run_dir.string(), e.what()));
  }
}

std::filesystem::path WriteResults(const std::filesystem::path& run_dir,
                                   const RunResults& results) {
  std::filesystem::path path = run_dir / "results.json";
  WriteFileAtomically(path, ToJson(results).dump(2) + "\n");
  return path;
}

}  // namespace fwbench
