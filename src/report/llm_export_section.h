#pragma once
// The export portability matrix of a fine-tuned LLM (`fwbench llm-export`, export/matrix.json;
// docs/llm.md): one row per export path and runtime, and the verdict line, for the terminal and
// the report.
#include <string>

#include <nlohmann/json.hpp>

#include "report/report_document.h"

namespace fwbench::report {

// from, export (converter), runtime, loads, logits max |Δ| vs the reference, greedy tokens equal,
// prefill and decode tokens/s, or the first error line.
Table LlmExportTable(const nlohmann::json& matrix);

// "pick X if you care about export portability: …": the framework whose exports run, with
// LibTorch's logits and tokens, in the most runtimes; a tie when they run in as many.
std::string LlmExportVerdict(const nlohmann::json& matrix);

Section LlmExportSection(const nlohmann::json& matrix);

}  // namespace fwbench::report
