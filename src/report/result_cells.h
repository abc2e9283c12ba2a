#pragma once
// How a result figure is written in every view of a run (the terminal table, report.md,
// report.html, configurations.csv): numbers to about three significant figures, medians with
// their 95% CI, parity and compile verdicts in words. One place, so the views never disagree.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/run_results.h"

namespace fwbench {

std::string FormatNumber(double v);

// "12.3 [11.9–12.8]" for the configuration's metric `key`; "-" when it was not measured.
std::string FormatWithCi(const ConfigurationResult& config, std::string_view key);

// The median alone; "-" when not measured.
std::string FormatMedian(const ConfigurationResult& config, std::string_view key);

// A fraction as a percentage with its CI: "12.3% [11.0–13.1]"; "-" when not measured.
std::string FormatPercentWithCi(const ConfigurationResult& config, std::string_view key);

// "pass", "reference", "FAIL (max |Δ| 0.31)", "unchecked", "-" (no gate decision).
std::string FormatParity(const ConfigurationResult& config);

// One line on a training reference's rounding envelope (ParityResult::envelope, docs/parity.md):
// "3 rounding probes; allowed |Δ| 2.4e-06 at step 0 … 0.47 at step 19; informative steps 0–10".
// Empty when the configuration has no measured envelope.
std::string FormatEnvelope(const nlohmann::json& envelope);

// The fp32 training configurations judged against a measured envelope, grouped by reference:
// the reference's id and, for each, its configurations in results order.
std::vector<std::pair<std::string, std::vector<const ConfigurationResult*>>> EnvelopeGroups(
    const RunResults& results);

// A configuration's compile result: "4.59× [3.64–5.60]", break-even "13 [9–never]" or
// "never [never–never]" (with its CI when the results have one), and the verdict in words
// ("compiled faster", "no significant difference", "not ranked: parity fail"); "-" where the
// figure is absent.
std::string FormatSpeedup(const CompileResult& compile);
std::string FormatBreakEven(const CompileResult& compile);
// "0.71 [0.69–0.73]" (an estimate with its 95% CI).
std::string FormatEstimate(const stats::Estimate& e);
// The data-parallel scaling table (train_ddp on N > 1 processes): header row first.
std::vector<std::vector<std::string>> DdpScalingRows(const RunResults& results);
std::string CompileVerdictText(const CompileResult& compile);

// The phases of time to first batch that some configuration of the run reported: the
// conventional ones in order, then any other a worker reported, then "other".
std::vector<std::string> PhaseNames(const RunResults& results);

// "ok/n" trials of a configuration.
std::string FormatTrialCount(const ConfigurationResult& config);

// The thread counts of a run's configurations, ascending and each once: "1", or "1, 2" for a
// sweep. Runs older than the per-configuration field fall back to inputs.threads; "?" without
// either.
std::string FormatThreadCounts(const RunResults& results);

// Token workloads (LLM): a header and one row per configuration that measured tokens/s —
// tokens/s, MFU, time to first token, prefill and decode rates, each with its CI; only the
// header for runs without tokens.
std::vector<std::vector<std::string>> TokenRows(const RunResults& results);

}  // namespace fwbench
