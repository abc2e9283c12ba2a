#pragma once
// How a results.json figure is written in every view of a run (the terminal table, report.md,
// report.html): numbers to about three significant figures, medians with their 95% CI, parity
// and compile verdicts in words. One place, so the views never disagree.
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace fwbench {

std::string FormatNumber(double v);

// "12.3 [11.9–12.8]" for metrics[key] ({median, ci95_lo, ci95_hi}); "-" when absent.
std::string FormatWithCi(const nlohmann::json& metrics, const std::string& key);

// The median alone; "-" when absent.
std::string FormatMedian(const nlohmann::json& metrics, const std::string& key);

// "pass", "reference", "FAIL (max |Δ| 0.31)", "unchecked", "-".
std::string FormatParity(const nlohmann::json& config);

// One line on a training reference's rounding envelope (parity.envelope, docs/parity.md):
// "3 rounding probes; allowed |Δ| 2.4e-06 at step 0 … 0.47 at step 19; informative steps 0–10".
// Empty when the configuration has no measured envelope.
std::string FormatEnvelope(const nlohmann::json& envelope);

// The fp32 training configurations judged against a measured envelope, grouped by reference:
// the reference's id and, for each, its configurations in results order.
std::vector<std::pair<std::string, std::vector<const nlohmann::json*>>> EnvelopeGroups(
    const nlohmann::json& results);

// A configuration's `compile` object: "4.59× [3.64–5.60]", break-even "13 [9–never]" or
// "never [never–never]" (with its CI when the results have one), and the
// verdict in words ("compiled faster", "no significant difference", "not ranked: parity fail").
std::string FormatSpeedup(const nlohmann::json& compile);
std::string FormatBreakEven(const nlohmann::json& compile);
std::string CompileVerdictText(const nlohmann::json& compile);

// The phases of time to first batch that some configuration of the run reported: the
// conventional ones in order, then any other a worker reported, then "other".
std::vector<std::string> PhaseNames(const nlohmann::json& results);

// "ok/n" trials of a configuration.
std::string FormatTrialCount(const nlohmann::json& config);

// The thread counts of a run's configurations, ascending and each once: "1", or "1, 2" for a
// sweep. Runs older than the per-configuration field fall back to inputs.threads; "?" without
// either.
std::string FormatThreadCounts(const nlohmann::json& results);

// Token workloads (LLM): a header and one row per configuration that measured tokens/s —
// tokens/s, MFU, time to first token, prefill and decode rates, each with its CI; only the
// header for runs without tokens.
std::vector<std::vector<std::string>> TokenRows(const nlohmann::json& results);
// A fraction as a percentage with its CI: "12.3% [11.0–13.1]".
std::string FormatPercentWithCi(const nlohmann::json& metrics, const std::string& key);

}  // namespace fwbench
