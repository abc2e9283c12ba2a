#include "report/parity_gate.h"

#include <fmt/format.h>

#include <optional>

#include "analysis/parity.h"
#include "core/error.h"
#include "orchestrate/builtin_workers.h"

namespace fwbench {

namespace {

// `reference_backend`: a user model's own runtime (any of its modes, fp32), or empty for
// fwbench's models, whose reference is libtorch eager fp32 contiguous.
bool IsReferenceKind(const nlohmann::json& c, const std::string& reference_backend) {
  if (!reference_backend.empty()) {
    return c.value("backend", "") == reference_backend && c.value("precision", "fp32") == "fp32";
  }
  return c.value("backend", "") == kLibtorchBackend && c.value("mode", "") == "eager" &&
         c.value("precision", "fp32") == "fp32" &&
         c.value("memory_format", "contiguous") == "contiguous";
}

// The reference for `config`: a libtorch eager fp32 contiguous configuration of the same task
// (for training also the same batch size, since the losses depend on it), preferring the same
// thread count. Logits come from the fixed parity batch, so any inference batch size will do.
const nlohmann::json* FindReference(const nlohmann::json& manifest_configs,
                                    const nlohmann::json& config,
                                    const std::string& reference_backend) {
  // Of a user model's runtime, its eager mode where it has one (PyTorch: not TorchScript or
  // torch.compile, which are checked against it).
  const nlohmann::json* best = nullptr;
  int best_score = -1;
  for (const nlohmann::json& c : manifest_configs) {
    if (!IsReferenceKind(c, reference_backend) || c.value("task", "") != config.value("task", ""))
      continue;
    if (IsTrainingTask(c.value("task", "")) &&
        c.value("batch_size", 0) != config.value("batch_size", 0)) {
      continue;
    }
    // Data-parallel losses depend on how many ranks averaged the gradients, not on where the
    // ranks ran.
    if (c.value("ddp_processes", 1) != config.value("ddp_processes", 1)) continue;
    // Runs on several machine types: each machine's configurations against its own reference.
    const int score = (c.value("machine_type", "") == config.value("machine_type", "") ? 8 : 0) +
                      (c.value("ddp_hosts", 1) == config.value("ddp_hosts", 1) ? 4 : 0) +
                      (c.value("threads", 0) == config.value("threads", 0) ? 2 : 0) +
                      (c.value("mode", "") == "eager" ? 1 : 0);
    if (score > best_score) best = &c, best_score = score;
  }
  return best;
}

// A worker wrote an absolute path; if the run folder has moved since, look next to the trial.
std::filesystem::path Locate(const std::filesystem::path& run_dir, const TrialMetrics& trial,
                             const std::string& path) {
  std::filesystem::path p(path);
  if (std::filesystem::exists(p)) return p;
  return run_dir / "trials" / trial.trial / p.filename();
}

const TrialMetrics* FirstUsable(const std::vector<TrialMetrics>& trials, bool train) {
  for (const TrialMetrics& t : trials) {
    if (!t.ok) continue;
    if (train ? !t.losses.empty() : t.outputs.contains("logits")) return &t;
  }
  return nullptr;
}

struct GateDecision {
  std::string status;  // pass, fail, reference, unchecked
  std::string problem;
  nlohmann::json detail = nlohmann::json::object();
};

// The envelope from the reference configuration's rounding probes, or why there is none.
struct EnvelopeOrWhy {
  std::optional<parity::LossEnvelope> envelope;
  std::string why;
};
EnvelopeOrWhy MeasureEnvelope(const TrialMetrics& reference,
                              const std::vector<TrialMetrics>& probes, std::size_t steps) {
  std::vector<std::vector<double>> losses;
  std::string failed;
  for (const TrialMetrics& p : probes) {
    if (p.ok && p.losses.size() >= steps) {
      losses.push_back(p.losses);
    } else if (failed.empty()) {
      failed = p.ok ? fmt::format("{} has {} losses", p.trial, p.losses.size())
                    : fmt::format("{} failed: {}", p.trial, p.reason);
    }
  }
  if (losses.empty()) {
    return {std::nullopt, probes.empty()
                              ? "the run has no rounding probe of the reference"
                              : "no rounding probe of the reference succeeded (" + failed + ")"};
  }
  try {
    return {parity::MeasureLossEnvelope(reference.losses, losses, steps), ""};
  } catch (const std::invalid_argument& e) {
    return {std::nullopt, e.what()};
  }
}

GateDecision Check(const std::vector<TrialMetrics>& trials, const TrialMetrics& reference,
                   bool train, const parity::Tolerance& tol, const parity::LossEnvelope* envelope,
                   const std::filesystem::path& run_dir) {
  GateDecision v;
  if (train && reference.losses.size() < tol.losses_compared) {
    // Not evidence of a difference, so not a failure: the gate simply cannot tell.
    return {"unchecked",
            fmt::format("the reference trial has {} training losses, the gate compares the first "
                        "{}: set train.min_steps to at least {}",
                        reference.losses.size(), tol.losses_compared, tol.losses_compared),
            nlohmann::json::object()};
  }
  std::optional<parity::Output> ref_output;
  if (!train)
    ref_output = parity::ReadOutput(Locate(run_dir, reference, reference.outputs.at("logits")));
  int compared = 0;
  double worst = -1.0;
  std::string short_trial;  // why a trial was left out: too few losses to judge
  for (const TrialMetrics& t : trials) {
    if (!t.ok) continue;
    if (train && t.losses.size() < tol.losses_compared) {
      // Too short to judge either way: not evidence of a different function.
      short_trial = fmt::format(
          "{} has {} training losses, the gate compares the first {}: run "
          "at least {} steps (--train-min-steps)",
          t.trial, t.losses.size(), tol.losses_compared, tol.losses_compared);
      continue;
    }
    nlohmann::json result;
    bool pass = false;
    std::string problem;
    double error = 0.0;
    if (train) {
      const parity::LossComparison c =
          parity::CompareLosses(reference.losses, t.losses, tol, envelope);
      if (c.inconclusive) {
        // The reference's own chaos, not the backend: the same for every trial.
        v = {"unchecked", c.problem, parity::ToJson(c)};
        v.detail["trials_compared"] = 0;
        return v;
      }
      result = parity::ToJson(c);
      pass = c.pass;
      problem = c.problem;
      error = c.envelope_used ? c.worst_band_fraction : c.max_abs;
    } else {
      const auto it = t.outputs.find("logits");
      if (it == t.outputs.end()) {
        pass = false;
        problem = "the trial wrote no logits (an `output` event named logits; docs/protocol.md)";
        result = {{"pass", false}, {"problem", problem}};
        error = INFINITY;
      } else {
        try {
          const parity::LogitsComparison c = parity::CompareLogits(
              *ref_output, parity::ReadOutput(Locate(run_dir, t, it->second)), tol);
          result = parity::ToJson(c);
          pass = c.pass;
          problem = c.problem;
          error = c.pass ? c.max_abs : INFINITY;
        } catch (const UsageError& e) {
          pass = false;
          problem = e.what();
          result = {{"pass", false}, {"problem", problem}};
          error = INFINITY;
        }
      }
    }
    ++compared;
    // Report the worst trial: a gate is only as good as its weakest repetition.
    if (!pass && v.problem.empty()) {
      v.problem = fmt::format("{}: {}", t.trial, problem);
      v.detail = result;
      worst = INFINITY;
    } else if (v.problem.empty() && error > worst) {
      v.detail = result;
      worst = error;
    }
  }
  v.detail["trials_compared"] = compared;
  v.status = compared == 0 ? "unchecked" : (v.problem.empty() ? "pass" : "fail");
  if (compared == 0) {
    v.problem = short_trial.empty() ? "no successful trial to compare" : short_trial;
  }
  return v;
}

}  // namespace

void ApplyParityGate(const nlohmann::json& manifest_configs,
                     const std::map<std::string, std::vector<TrialMetrics>>& trials_by_config,
                     const std::map<std::string, std::vector<TrialMetrics>>& probes_by_config,
                     const std::filesystem::path& run_dir,
                     std::vector<ConfigurationResult>& configs, std::vector<std::string>& warnings,
                     const std::string& reference_backend) {
  static const std::vector<TrialMetrics> kNone;
  const auto trials_of = [&](const std::string& id) -> const std::vector<TrialMetrics>& {
    const auto it = trials_by_config.find(id);
    return it == trials_by_config.end() ? kNone : it->second;
  };
  for (std::size_t i = 0; i < configs.size() && i < manifest_configs.size(); ++i) {
    const nlohmann::json& mc = manifest_configs[i];
    ConfigurationResult& out = configs[i];
    const std::string id = mc.value("id", "");
    const bool train = IsTrainingTask(mc.value("task", ""));
    const std::string precision = mc.value("precision", "fp32");
    ParityResult parity;
    GateDecision verdict;
    const nlohmann::json* ref_config = FindReference(manifest_configs, mc, reference_backend);
    const TrialMetrics* ref_trial =
        ref_config ? FirstUsable(trials_of(ref_config->value("id", "")), train) : nullptr;
    if (ref_config == nullptr) {
      verdict = {"unchecked",
                 reference_backend.empty()
                     ? "the run has no reference configuration (libtorch eager fp32 contiguous, "
                       "same task" +
                           std::string(train ? " and batch size" : "") + "): add backend libtorch"
                     : fmt::format("the run has no configuration of the model's own runtime, {} "
                                   "(fp32): add backend {}",
                                   reference_backend, reference_backend),
                 nlohmann::json::object()};
    } else if (ref_trial == nullptr) {
      verdict = {"unchecked",
                 fmt::format("the reference {} has no successful trial with {}",
                             ref_config->value("id", ""), train ? "losses" : "logits"),
                 nlohmann::json::object()};
    } else {
      try {
        const parity::Tolerance tol = parity::ToleranceFor(precision);
        EnvelopeOrWhy envelope;
        if (train && precision == "fp32") {
          const auto probes = probes_by_config.find(ref_config->value("id", ""));
          envelope =
              MeasureEnvelope(*ref_trial, probes == probes_by_config.end() ? kNone : probes->second,
                              tol.losses_compared);
          parity.envelope = envelope.envelope ? parity::ToJson(*envelope.envelope)
                                              : nlohmann::json{{"unavailable", envelope.why}};
        } else if (train) {
          parity.envelope = {{"unavailable", fmt::format("{} training is judged by the fixed "
                                                         "{} tolerance",
                                                         precision, precision)}};
        }
        verdict = Check(trials_of(id), *ref_trial, train, tol,
                        envelope.envelope ? &*envelope.envelope : nullptr, run_dir);
        if (train && precision == "fp32" && !envelope.envelope &&
            (verdict.status == "pass" || verdict.status == "fail")) {
          warnings.push_back(fmt::format(
              "{}: training parity judged by the fixed tolerance, not the rounding envelope ({})",
              id, envelope.why));
        }
        parity.tolerance = parity::ToJson(tol);
      } catch (const std::exception& e) {
        verdict = {"unchecked", e.what(), nlohmann::json::object()};
      }
      parity.reference = ref_config->value("id", "");
      parity.reference_trial = ref_trial->trial;
      // The reference against itself checks that the reference is reproducible run to run.
      if (ref_config->value("id", "") == id && verdict.status == "pass")
        verdict.status = "reference";
    }
    parity.status = verdict.status;
    parity.compared = train ? "losses" : "logits";
    parity.comparison = verdict.detail;
    parity.problem = verdict.problem;
    out.ranked = verdict.status == "pass" || verdict.status == "reference";
    out.parity = std::move(parity);
    if (verdict.status == "fail") {
      warnings.push_back(fmt::format(
          "{}: PARITY FAIL against {}: {}. It computes something else; its speed is not ranked", id,
          out.parity->reference.empty() ? "?" : out.parity->reference, verdict.problem));
    } else if (verdict.status == "unchecked") {
      warnings.push_back(
          fmt::format("{}: parity unchecked ({}); its speed is not ranked", id, verdict.problem));
    }
  }
}

}  // namespace fwbench
