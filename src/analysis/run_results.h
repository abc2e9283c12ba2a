#pragma once
// A run's results, typed: what report/results.cpp builds from a run folder, what the verdict
// matrix decides on and what every view (table, report, CSV, charts, history, compare) renders.
// JSON only at the edge: ToJson writes results.json (docs/results.md) and RunResultsFromJson
// reads it back, so ToJson(RunResultsFromJson(j)) == j for every results.json fwbench writes.
//
// Three parts stay JSON documents inside the typed form because they are documents of their
// own, written elsewhere and shown rather than decided on: the plan as the run wrote it
// (manifest.json), the environment probe (env.json) and the deployment (deploy.json). The
// parity gate's evidence (the worst trial's comparison, the tolerance, the rounding envelope)
// is kept as analysis/parity wrote it, beside the gate's typed decision.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/compile_gain.h"
#include "analysis/config_summary.h"
#include "analysis/ddp_scaling.h"
#include "analysis/trial_metrics.h"
#include "analysis/verdict.h"

namespace fwbench {

inline constexpr int kResultsSchemaVersion = 1;

// One measured trial. `metrics` holds what results.json keeps of a trial (no steady-state
// series, token rates or CPU watch: those went into its configuration's summary). Read from
// JSON, a figure the trial's object lacks or holds as null (a non-finite value) is NaN, so
// "not measured" stays apart from a measured 0: skip non-finite values.
struct TrialResult {
  TrialMetrics metrics;
  int repetition = 0;
  int exit_code = -1;
  int signal = 0;
  std::string stderr_tail;  // the last lines the process wrote to stderr
};

// A compiled configuration against its eager twin (analysis/compile_gain.h).
struct CompileResult {
  std::string eager_config;         // empty when the plan has no eager twin
  std::optional<CompileGain> gain;  // nullopt: `unavailable` says why
  std::string unavailable;
  // False when the compiled configuration failed or skipped parity: a speed-up of a different
  // function means nothing; `parity` is then its parity status.
  bool ranked = true;
  std::string parity;
};

// The parity gate's decision on one configuration (report/parity_gate.h, docs/parity.md).
struct ParityResult {
  std::string status = "unchecked";  // pass, reference, fail, unchecked
  std::string problem;               // why it failed or is unchecked; empty otherwise
  std::string reference;             // the reference configuration; empty without one
  std::string reference_trial;
  // "logits" (inference) or "losses" (training), and the worst trial's comparison as
  // analysis/parity's ToJson wrote it, with trials_compared.
  std::string compared;
  nlohmann::json comparison = nlohmann::json::object();
  nlohmann::json tolerance;  // parity::ToJson(Tolerance); null when none was chosen
  nlohmann::json envelope;   // training: ToJson(LossEnvelope) or {unavailable}; null otherwise
};

// Task input_pipeline (docs/data-pipelines.md): one backend's input pipeline at one setting.
struct PipelineFacts {
  std::string loader;  // cpp, dataloader, tf.data, grain
  int workers = 0;
  std::string model_step = "none";  // none (the pipeline alone) or train
  bool cache = false;
  std::string source;  // cifar10-bin or image-folder
  // What the trial set (its hello's extra.pipeline.settings), and what the framework's own
  // documentation recommends, in a line.
  nlohmann::json settings = nlohmann::json::object();
  std::string recommended;
  // Its first batches against fwbench's reference batches of the same seed: "match" (bit for
  // bit, labels and pixels), "differs" (check_detail says where), or "unchecked" (why).
  std::string check = "unchecked";
  std::string check_detail;
};

struct ConfigurationResult {
  // Id (summary.config), task, batch size, trial counts, metrics (MFU included), warnings.
  ConfigSummary summary;
  std::string backend;
  std::string mode;
  std::string precision = "fp32";
  std::string memory_format = "contiguous";
  int threads = 0;
  std::optional<CompileResult> compile;  // compiled modes whose backend has an eager mode
  // train_ddp on more than one process: against the same configuration on one process.
  std::optional<DdpScaling> ddp_scaling;
  std::string ddp_scaling_unavailable;    // why a train_ddp configuration has none
  std::optional<ParityResult> parity;     // absent until the gate ran
  std::optional<PipelineFacts> pipeline;  // input_pipeline configurations
  bool ranked = false;                    // passed the parity gate (or is the reference)

  const std::string& id() const { return summary.config; }
  const std::string& task() const { return summary.task; }
  // The metric by results name ("ttfb_s", "phase.import_s", …); nullptr when not measured.
  const MetricSummary* Metric(std::string_view name) const;
  // The parity status, "unchecked" without a gate decision.
  std::string ParityStatus() const;
};

struct ResultsInputs {
  std::string data_dir;
  std::string weights;
  int threads = 0;  // the run's default threads per trial (a sweep's configurations differ)
};

struct RunResults {
  int schema_version = kResultsSchemaVersion;
  std::string run_id;
  std::string started_utc;
  std::string analysed_utc;
  bool complete = true;
  nlohmann::json plan = nlohmann::json::object();  // as manifest.json holds it
  ResultsInputs inputs;
  nlohmann::json env = nlohmann::json::object();    // env.json
  std::vector<ConfigurationResult> configurations;  // in plan order
  // Task input_pipeline's configurations, in plan order: apart, since no other view (speed
  // table, verdicts, parity gate) compares a pipeline with a model.
  std::vector<ConfigurationResult> pipelines;
  std::vector<TrialResult> trials;  // measured trials, in the order they ran
  std::vector<std::string> warnings;
  std::vector<std::string> notes;            // caveats of the plan itself
  std::optional<nlohmann::json> deployment;  // deploy.json of `fwbench deploy --into`
  std::optional<nlohmann::json> dx;          // dx.json of `fwbench dx --into` (docs/dx.md)
  // export/matrix.json of `fwbench llm-export` (docs/llm.md, "Export portability")
  std::optional<nlohmann::json> llm_export;
  // A user's model (docs/your-model.md): manifest.json's facts of it, what each runtime loaded
  // (the model, or a conversion of it) and why a runtime could not.
  std::optional<nlohmann::json> user_model;
  double verdict_threshold = 0.05;
  std::vector<Verdict> verdicts;
  std::vector<std::string> pick;

  // nullptr when the run has no configuration of that id.
  const ConfigurationResult* Configuration(std::string_view id) const;
  // A user's model: the runtimes that could load neither it nor a conversion of it, with why
  // (user_model.runtimes[].refused), by name; empty for fwbench's own models.
  std::map<std::string, std::string> RefusedRuntimes() const;
};

nlohmann::json ToJson(const RunResults& results);
nlohmann::json ToJson(const ConfigurationResult& config);
nlohmann::json ToJson(const TrialResult& trial);

// Reads a results.json document. Fields a version of schema 1 did not write take their
// defaults; a document of the wrong shape throws UsageError naming `source` and the field.
RunResults RunResultsFromJson(const nlohmann::json& results,
                              const std::string& source = "results.json");

}  // namespace fwbench
