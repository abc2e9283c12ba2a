#include "report/report_content.h"

#include <fmt/format.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/doctor.h"
#include "core/trial_spec.h"
#include "orchestrate/builtin_workers.h"
#include "report/dx_section.h"
#include "report/llm_export_section.h"
#include "report/pipeline_section.h"
#include "report/result_cells.h"

namespace fwbench::report {

namespace {

std::string Str(const nlohmann::json& j, const char* key, const std::string& fallback = "unknown") {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return fallback;
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

const nlohmann::json& Obj(const nlohmann::json& j, const char* key) {
  static const nlohmann::json empty = nlohmann::json::object();
  return j.is_object() && j.contains(key) && j[key].is_object() ? j[key] : empty;
}

// A training configuration's worst-trial loss comparison; an empty object for inference or
// without one.
const nlohmann::json& Losses(const ParityResult& parity) {
  static const nlohmann::json empty = nlohmann::json::object();
  return parity.compared == "losses" && parity.comparison.is_object() ? parity.comparison : empty;
}

// A verdict's advantage over its runner-up. Too few trials: no interval, since one of no width
// would look like certainty.
std::string Ratio(const Verdict& v) {
  const stats::Estimate& a = v.advantage;
  if (v.too_few_trials) return fmt::format("{}× (no CI)", FormatNumber(a.value));
  return fmt::format("{}× [{}–{}]", FormatNumber(a.value), FormatNumber(a.ci_lo),
                     FormatNumber(a.ci_hi));
}

Section Summary(const RunResults& results) {
  Section s{"Summary", "summary", {}};
  if (!results.complete) {
    std::string recorded = "some";
    for (const std::string& text : results.warnings) {
      if (text.starts_with("the run is incomplete")) recorded = text;
    }
    s.blocks.push_back(Notice{Notice::Level::kWarning,
                              fmt::format("INCOMPLETE RUN — {}. This report shows only what was "
                                          "measured before the run stopped; configurations "
                                          "with fewer trials have wider CIs or none.",
                                          recorded)});
  }
  const nlohmann::json& env = results.env;
  s.blocks.push_back(Paragraph{fmt::format(
      "{} configurations, {} trial processes each, on {} ({} usable cores, threads per "
      "trial: {}), {}. Every figure is a median across trial processes with its 95% confidence "
      "interval; a configuration is ranked only after it passed the parity gate (it computes "
      "the same function as the reference); a verdict names a winner only when the 95% CI of "
      "its advantage lies above 1 and the advantage is at least {:.0f}%.",
      results.configurations.size() + results.pipelines.size(), Str(results.plan, "trials"),
      Str(Obj(env, "cpu"), "model"), Str(Obj(env, "cpu"), "usable_cores"),
      FormatThreadCounts(results), Str(Obj(env, "os"), "distro"),
      100.0 * results.verdict_threshold)});
  if (!results.pick.empty()) s.blocks.push_back(List{results.pick});
  int failing = 0;
  for (const ConfigurationResult& c : results.configurations) {
    if (c.parity && c.parity->status == "fail") ++failing;
  }
  if (failing > 0) {
    s.blocks.push_back(
        Notice{Notice::Level::kWarning,
               fmt::format("{} configuration(s) FAILED the parity gate: they compute a different "
                           "function from the reference and are excluded from every ranking (see "
                           "Parity).",
                           failing)});
  }
  return s;
}

Section VerdictMatrix(const RunResults& results) {
  Section s{"Verdict matrix", "verdicts", {}};
  s.blocks.push_back(Paragraph{
      "Per criterion, the winner among parity-checked configurations, the runner-up, and the "
      "winner's advantage over it (> 1 is better, 95% CI from per-trial values). \"tie — within "
      "noise\" means the CI includes 1 or the advantage is under the threshold. Compile gain is "
      "a compiled mode against its own eager twin; portability counts the run's tasks each "
      "backend ran with parity on this machine."});
  Table t{"",
          {"criterion", "verdict", "advantage [95% CI]", "over", "evidence", "not ranked"},
          {},
          "verdict-matrix"};
  for (const Verdict& v : results.verdicts) {
    std::string verdict;
    if (v.winner.empty()) {
      verdict = "not measured";
    } else if (v.too_few_trials) {
      verdict = "undecided — too few trials";
    } else if (v.tie) {
      verdict = v.ratio ? "tie — within noise" : "tie";
    } else {
      verdict = v.winner;
    }
    // Counts and unmeasured rows have no advantage to show, nor has a winner without a rival.
    const bool advantage = v.ratio && !v.runner_up.empty();
    t.rows.push_back({v.criterion, verdict, advantage ? Ratio(v) : "-",
                      v.runner_up.empty() ? "-" : v.runner_up, v.evidence,
                      v.excluded.empty() ? "-" : fmt::format("{}", fmt::join(v.excluded, "; "))});
  }
  s.blocks.push_back(std::move(t));
  return s;
}

Section Snapshot(const RunResults& results) {
  Section s{"Snapshot", "snapshot", {}};
  s.blocks.push_back(Paragraph{
      "Medians across trial processes with 95% CIs in brackets. Time to first batch runs from "
      "process spawn to the end of the first step; throughput and latency are steady-state "
      "(after MSER-5 warm-up truncation); compile speed-up is eager step time ÷ compiled step "
      "time against the same backend's eager mode, and break-even is the number of steps after "
      "which compiling has paid for itself."});
  Table train{
      "Training",
      {"configuration", "trials ok", "time to first batch s", "samples/s", "steps/s",
       "peak RSS MiB", "compile speed-up", "break-even steps", "loss first → last", "parity"},
      {},
      "snapshot-train"};
  Table infer{
      "Inference",
      {"configuration", "trials ok", "time to first batch s", "latency p50 ms", "latency p99 ms",
       "samples/s", "peak RSS MiB", "compile speed-up", "break-even steps", "parity"},
      {},
      "snapshot-infer"};
  for (const ConfigurationResult& c : results.configurations) {
    const std::string speedup = c.compile ? FormatSpeedup(*c.compile) : "-";
    const std::string break_even = c.compile ? FormatBreakEven(*c.compile) : "-";
    if (IsTrainingTask(c.task())) {
      const std::string loss =
          c.Metric("loss_first") != nullptr && c.Metric("loss_last") != nullptr
              ? fmt::format("{} → {}", FormatMedian(c, "loss_first"), FormatMedian(c, "loss_last"))
              : "-";
      train.rows.push_back({c.id(), FormatTrialCount(c), FormatWithCi(c, "ttfb_s"),
                            FormatWithCi(c, "samples_per_s"), FormatWithCi(c, "steps_per_s"),
                            FormatWithCi(c, "peak_rss_mb"), speedup, break_even, loss,
                            FormatParity(c)});
    } else {
      infer.rows.push_back({c.id(), FormatTrialCount(c), FormatWithCi(c, "ttfb_s"),
                            FormatWithCi(c, "latency_p50_ms"), FormatWithCi(c, "latency_p99_ms"),
                            FormatWithCi(c, "samples_per_s"), FormatWithCi(c, "peak_rss_mb"),
                            speedup, break_even, FormatParity(c)});
    }
  }
  if (train.rows.empty() && infer.rows.empty()) {
    s.blocks.push_back(Notice{Notice::Level::kWarning, "no configuration in this run"});
  }
  if (!train.rows.empty()) s.blocks.push_back(std::move(train));
  if (!infer.rows.empty()) s.blocks.push_back(std::move(infer));
  if (auto rows = TokenRows(results); rows.size() > 1) {
    std::vector<std::string> header = std::move(rows.front());
    header.front() = "configuration";
    rows.erase(rows.begin());
    s.blocks.push_back(Paragraph{
        "Token workload (LLM LoRA): training tokens/s; for generation, the time to the first new "
        "token (prefill), the prefill rate and the decode rate through the KV cache. MFU is "
        "model FLOPs utilisation: tokens/s × analytical FLOPs per token ÷ the fp32 matmul peak "
        "measured on this machine at the same thread count (docs/llm.md)."});
    s.blocks.push_back(Table{"Tokens", std::move(header), std::move(rows), "snapshot-tokens"});
  }
  if (auto rows = DdpScalingRows(results); rows.size() > 1) {
    std::vector<std::string> header = std::move(rows.front());
    header.front() = "configuration";
    rows.erase(rows.begin());
    s.blocks.push_back(Paragraph{
        "Data-parallel training (train_ddp): every process trains the same batch a step and the "
        "gradients are averaged across processes before each update. Efficiency is the step time "
        "on one process over the step time on N (1 = perfect scaling), i.e. throughput on N over "
        "N × throughput on one; the CI resamples the trial processes of both configurations "
        "(docs/scale-out.md)."});
    s.blocks.push_back(
        Table{"Data-parallel scaling", std::move(header), std::move(rows), "snapshot-ddp"});
  }
  return s;
}

Section Charts(const std::vector<Chart>& charts) {
  Section s{"Charts", "charts", {}};
  for (const Chart& c : charts) s.blocks.push_back(c);
  if (charts.empty()) s.blocks.push_back(Paragraph{"No trial succeeded: nothing to chart."});
  return s;
}

Section Details(const RunResults& results) {
  Section s{"Time to first batch and compile cost", "details", {}};
  const std::vector<std::string> phases = PhaseNames(results);
  Table t{"Time to first batch by phase (median s)", {"configuration"}, {}, "ttfb-phases"};
  t.header.insert(t.header.end(), phases.begin(), phases.end());
  t.header.push_back("total [95% CI]");
  for (const ConfigurationResult& c : results.configurations) {
    if (c.Metric("ttfb_s") == nullptr) continue;
    std::vector<std::string> row = {c.id()};
    for (const std::string& p : phases) row.push_back(FormatMedian(c, "phase." + p + "_s"));
    row.push_back(FormatWithCi(c, "ttfb_s"));
    t.rows.push_back(std::move(row));
  }
  if (!t.rows.empty()) s.blocks.push_back(std::move(t));
  Table compile{"Compiled against eager (same backend, task, batch size, precision, threads)",
                {"configuration", "eager twin", "speed-up [95% CI]", "compile s", "extra warm-up s",
                 "break-even steps", "verdict"},
                {},
                "compile-gain"};
  for (const ConfigurationResult& c : results.configurations) {
    if (!c.compile) continue;
    const CompileResult& g = *c.compile;
    std::string eager = g.eager_config;
    if (eager.empty() && g.gain) eager = g.gain->eager_config;
    // Without a gain (`unavailable` says why) there are no costs to show.
    compile.rows.push_back({c.id(), eager.empty() ? "-" : eager, FormatSpeedup(g),
                            g.gain ? FormatNumber(g.gain->compile_s) : "-",
                            g.gain ? FormatNumber(g.gain->extra_warmup_s) : "-", FormatBreakEven(g),
                            CompileVerdictText(g)});
  }
  if (!compile.rows.empty()) s.blocks.push_back(std::move(compile));
  if (s.blocks.empty()) s.blocks.push_back(Paragraph{"No trial reached its first batch."});
  return s;
}

// Step by step: the reference's losses, how far its rounding probes moved them, the band that
// allows, and each configuration's |Δ| (worst trial).
Table EnvelopeTable(const std::string& reference,
                    const std::vector<const ConfigurationResult*>& configs) {
  const nlohmann::json& e = configs.front()->parity->envelope;
  Table t{fmt::format("Training losses against the rounding envelope of {}: {}. A configuration "
                      "passes while |Δ| stays within the allowed band over the informative steps "
                      "(docs/parity.md).",
                      reference, FormatEnvelope(e)),
          {"step", "reference loss", "probes' divergence", "allowed |Δ|"},
          {},
          "parity-envelope"};
  for (const ConfigurationResult* c : configs) t.header.push_back(c->id());
  const auto cell = [](const nlohmann::json& a, std::size_t i) {
    return a.is_array() && i < a.size() && a[i].is_number()
               ? fmt::format("{:.3g}", a[i].get<double>())
               : std::string("-");
  };
  const nlohmann::json saturated = e.value("saturated_from", nlohmann::json());
  for (std::size_t i = 0; i < e["allowed"].size(); ++i) {
    std::string step = std::to_string(i);
    if (saturated.is_number() && i >= saturated.get<std::size_t>()) step += " (saturated)";
    std::vector<std::string> row = {step, cell(e["reference_losses"], i), cell(e["divergence"], i),
                                    cell(e["allowed"], i)};
    for (const ConfigurationResult* c : configs) {
      row.push_back(cell(Losses(*c->parity).value("deltas", nlohmann::json()), i));
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

Section Parity(const RunResults& results) {
  Section s{"Parity", "parity", {}};
  s.blocks.push_back(Paragraph{
      "Before any speed is ranked, every configuration is compared with the reference (LibTorch "
      "eager fp32 where the run has it) on the same weights and batches: logits on a fixed batch "
      "for inference, the first training losses for training (docs/parity.md). A configuration "
      "that fails computes a different function and is excluded from every ranking."});
  Table t{"",
          {"configuration", "status", "reference", "compared", "max |Δ|", "max rel", "note"},
          {},
          "parity"};
  for (const ConfigurationResult& c : results.configurations) {
    if (!c.parity) continue;
    const ParityResult& p = *c.parity;
    const bool logits = p.compared == "logits";
    const nlohmann::json& d = logits ? p.comparison : Losses(p);
    const auto num = [&](const char* key) {
      return d.contains(key) && d[key].is_number() ? fmt::format("{:.3g}", d[key].get<double>())
                                                   : "-";
    };
    std::string compared = "-";
    if (logits) {
      compared = fmt::format("logits, {} rows, {} trials", d.value("rows", 0),
                             d.value("trials_compared", 0));
    } else if (p.compared == "losses") {
      compared = fmt::format("{} losses, {} trials", d.value("compared", 0),
                             d.value("trials_compared", 0));
    }
    std::string note = p.problem;
    if (note.empty() && d.contains("top1_agreement") && d["top1_agreement"].is_number()) {
      note = fmt::format("top-1 agreement {:.1f}%", 100.0 * d["top1_agreement"].get<double>());
    }
    t.rows.push_back({c.id(), FormatParity(c), p.reference.empty() ? "-" : p.reference, compared,
                      num("max_abs"), num("max_rel"), note.empty() ? "-" : note});
  }
  s.blocks.push_back(std::move(t));
  for (const auto& [reference, configs] : EnvelopeGroups(results)) {
    s.blocks.push_back(EnvelopeTable(reference, configs));
  }
  return s;
}

// A user's model (docs/your-model.md): which runtime loaded what, and what came of it.
Section Portability(const RunResults& results) {
  const nlohmann::json& um = *results.user_model;
  Section s{"Portability", "portability", {}};
  const std::string format = um.value("format", "");
  const nlohmann::json runtimes = um.value("runtimes", nlohmann::json::object());
  s.blocks.push_back(Paragraph{fmt::format(
      "Your model ({}) on every runtime here that runs a user's model: what it loaded (the "
      "model itself, or fwbench's conversion of it), whether its trials ran, parity against {}, "
      "and its speed at the smallest batch. A runtime that cannot load the model, a conversion "
      "that fails and a converted model that computes something else are findings about "
      "portability, each with the runtime's or the converter's own message.",
      format, um.value("reference", "the format's own runtime"))});
  const nlohmann::json conversions = um.value("conversions", nlohmann::json::array());
  if (!conversions.empty()) {
    Table t{"Conversions", {"from", "to", "converter", "result"}, {}, "conversions"};
    for (const nlohmann::json& c : conversions) {
      t.rows.push_back({c.value("from", ""), c.value("to", ""), c.value("converter", "-"),
                        c.value("ok", false)
                            ? fmt::format("converted in {:.1f} s", c.value("seconds", 0.0))
                            : "failed: " + c.value("reason", std::string("-"))});
    }
    s.blocks.push_back(std::move(t));
  }
  std::int64_t smallest = 0;
  for (const ConfigurationResult& c : results.configurations) {
    const std::int64_t b = c.summary.batch_size;
    if (smallest == 0 || b < smallest) smallest = b;
  }
  Table t{
      "",
      {"runtime", "loads", "via", "trials ok", "parity", fmt::format("p50 ms, batch {}", smallest),
       fmt::format("samples/s, batch {}", smallest), "note"},
      {},
      "portability"};
  for (const ConfigurationResult& c : results.configurations) {
    if (c.summary.batch_size != smallest) continue;
    const nlohmann::json r = runtimes.value(c.backend, nlohmann::json::object());
    const std::string& backend = c.backend;
    {
      std::string note;
      for (const TrialResult& trial : results.trials) {
        if (trial.metrics.config == c.id() && !trial.metrics.ok) {
          note = trial.metrics.reason;
          break;
        }
      }
      if (note.empty() && c.parity && !c.parity->problem.empty()) note = c.parity->problem;
      t.rows.push_back({fmt::format("{}/{}", backend, c.mode), r.value("loads", "-"),
                        r.value("via", "-"), FormatTrialCount(c), FormatParity(c),
                        FormatWithCi(c, "latency_p50_ms"), FormatWithCi(c, "samples_per_s"),
                        note.empty() ? "-" : note});
    }
  }
  for (const auto& [backend, why] : results.RefusedRuntimes()) {
    t.rows.push_back({backend, "-", "-", "-", "-", "-", "-", why});
  }
  s.blocks.push_back(std::move(t));
  return s;
}

Section Warnings(const RunResults& results, const std::vector<Chart>& charts) {
  Section s{"Warnings", "warnings", {}};
  List warnings{results.warnings};
  for (const std::string& n : results.notes) warnings.items.push_back("note: " + n);
  for (const Chart& c : charts) {
    if (c.svg.empty()) warnings.items.push_back(fmt::format("chart {}: {}", c.id, c.error));
  }
  if (!warnings.items.empty()) {
    s.blocks.push_back(Paragraph{"From the analysis of this run:"});
    s.blocks.push_back(std::move(warnings));
  }
  // What `fwbench doctor` said of the machine when the run started (its load, BLAS, governor…).
  const std::vector<Finding> findings = Diagnose(results.env, results.inputs.threads);
  if (!findings.empty()) {
    List doctor;
    for (const Finding& f : findings) {
      doctor.items.push_back(fmt::format("{}{}{}",
                                         f.level == Finding::Level::kWarning ? "warning: " : "",
                                         f.what, f.fix.empty() ? "" : " — fix: " + f.fix));
    }
    s.blocks.push_back(Paragraph{"From the environment check (`fwbench doctor`) at the start:"});
    s.blocks.push_back(std::move(doctor));
  }
  Table failed{"Failed trials", {"trial", "reason", "stderr"}, {}, "failed-trials"};
  for (const TrialResult& t : results.trials) {
    if (t.metrics.ok) continue;
    failed.rows.push_back({t.metrics.trial, t.metrics.reason, t.stderr_tail});
  }
  if (!failed.rows.empty()) s.blocks.push_back(std::move(failed));
  if (s.blocks.empty()) s.blocks.push_back(Paragraph{"None."});
  return s;
}

Section Provenance(const RunResults& results, const std::string& plan_toml,
                   const std::string& renderer) {
  Section s{"Environment and provenance", "provenance", {}};
  const nlohmann::json& env = results.env;
  const nlohmann::json& cpu = Obj(env, "cpu");
  const nlohmann::json& lt = Obj(env, kLibtorchBackend);
  const nlohmann::json& fw = Obj(env, "fwbench");
  const nlohmann::json& load = Obj(env, "load");
  Table t{"", {"what", "value"}, {}, "environment"};
  t.rows = {
      {"run", fmt::format("{} (started {}, analysed {}, results schema {}{})", results.run_id,
                          results.started_utc, results.analysed_utc, results.schema_version,
                          results.complete ? "" : ", INCOMPLETE")},
      {"fwbench",
       fmt::format("{} (git {}), {} build, {}", Str(fw, "version"), Str(fw, "git_revision"),
                   Str(env, "build_type"), Str(env, "compiler"))},
      {"CPU", fmt::format("{} — {} logical cores, {} usable, cgroup limit {}, governor {}",
                          Str(cpu, "model"), Str(cpu, "logical_cores"), Str(cpu, "usable_cores"),
                          Str(cpu, "cgroup_cpu_limit", "none"), Str(cpu, "governor", "unknown"))},
      {"memory", fmt::format("{} bytes total, {} available at the start",
                             Str(Obj(env, "memory"), "total_bytes"),
                             Str(Obj(env, "memory"), "available_bytes"))},
      {"OS", fmt::format("{}, kernel {}", Str(Obj(env, "os"), "distro"),
                         Str(Obj(env, "os"), "kernel_release"))},
      {"GPU", env.contains("gpu") && env["gpu"].is_array() && !env["gpu"].empty()
                  ? env["gpu"].dump()
                  : "none"},
      {"load at the start", fmt::format("1-min load {} ({} processes running)",
                                        Str(load, "loadavg_1m"), Str(load, "running_processes"))},
      {"LibTorch", fmt::format("{}, BLAS {}, oneDNN {}, CUDA {}", Str(lt, "version"),
                               Str(lt, "blas"), Str(lt, "mkldnn"), Str(lt, "cuda_available"))},
      {"threads per trial", FormatThreadCounts(results)},
      {"data", results.inputs.data_dir},
      {"initial weights (shared by every backend)", results.inputs.weights},
      {"charts", renderer.empty() ? "not rendered" : renderer},
  };
  s.blocks.push_back(std::move(t));
  Table backends{"Backends: framework versions and the size of each port of the workload",
                 {"backend", "framework", "version", "port code lines"},
                 {},
                 "backends"};
  const nlohmann::json& ports = Obj(env, "ports");
  for (const auto& [name, port] : ports.items()) {
    const bool libtorch = name == kLibtorchBackend;
    std::string description = libtorch ? LibtorchCatalogueEntry("", {}).description : "-";
    std::string version = libtorch ? Str(lt, "version") : "-";
    for (const auto& w : env.value("workers", nlohmann::json::array())) {
      if (w.value("name", "") != name) continue;
      description = w.value("description", "-");
      version = w.value("version", "-");
    }
    backends.rows.push_back({name, description, version, Str(port, "code_lines", "-")});
  }
  if (!backends.rows.empty()) s.blocks.push_back(std::move(backends));
  s.blocks.push_back(
      Paragraph{"The effective plan (plan.toml of the run folder; runnable as is "
                "with `fwbench run plan.toml`):"});
  s.blocks.push_back(Preformatted{plan_toml.empty() ? results.plan.dump(2) : plan_toml});
  return s;
}

}  // namespace

Document BuildReportDocument(const RunResults& results, const std::vector<Chart>& charts,
                             const std::string& plan_toml, const std::string& chart_renderer) {
  Document doc;
  doc.title =
      fmt::format("fwbench report — {}{}", results.run_id, results.complete ? "" : " (incomplete)");
  // A user's model file (docs/your-model.md), else fwbench's ResNet.
  const std::string model =
      results.user_model ? fmt::format("Model {} (your {})", results.user_model->value("file", ""),
                                       results.user_model->value("format", "") == "pytorch_module"
                                           ? "PyTorch module"
                                           : "model file")
      : Str(results.plan, "workload", "") == "user_model"
          ? fmt::format("Model {} (your model file)", Str(results.plan, "model.file"))
          : fmt::format("Model {} ({} stem, {} classes)", Str(results.plan, "model.arch"),
                        Str(results.plan, "model.stem"), Str(results.plan, "model.num_classes"));
  doc.subtitle = fmt::format("{}; started {}; fwbench {}.", model, results.started_utc,
                             Str(Obj(results.env, "fwbench"), "version"));
  doc.sections.push_back(Summary(results));
  doc.sections.push_back(VerdictMatrix(results));
  doc.sections.push_back(Snapshot(results));
  doc.sections.push_back(Charts(charts));
  doc.sections.push_back(Details(results));
  doc.sections.push_back(Parity(results));
  if (results.user_model) doc.sections.push_back(Portability(results));
  if (results.dx) doc.sections.push_back(DxSection(*results.dx));
  if (results.llm_export) doc.sections.push_back(LlmExportSection(*results.llm_export));
  if (!results.pipelines.empty()) doc.sections.push_back(PipelineSection(results));
  doc.sections.push_back(Warnings(results, charts));
  doc.sections.push_back(Provenance(results, plan_toml, chart_renderer));
  return doc;
}

}  // namespace fwbench::report
