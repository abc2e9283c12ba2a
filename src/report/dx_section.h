#pragma once
// The developer-experience view of dx.json (`fwbench dx`, docs/dx.md): one row per fault and
// framework, a summary per framework, and the verdict line, for the terminal and the report.
#include <string>

#include <nlohmann/json.hpp>

#include "report/report_document.h"

namespace fwbench::report {

// Per framework (backend/mode): the faults that applied, how many the framework reported with
// an error, how many of those named the culprit and the port's source line, the median length.
Table DxSummaryTable(const nlohmann::json& dx);

// Every case: outcome, steps and seconds to it, the error's size, what it names, its first line.
Table DxCaseTable(const nlohmann::json& dx);

// "pick X if you care about debuggability …", or why no framework is named. Among the
// frameworks that train (the runtimes meet two faults only), ranked by the share of faults
// reported with an error, then naming the culprit, then naming the port's line.
std::string DxVerdict(const nlohmann::json& dx);

Section DxSection(const nlohmann::json& dx);

}  // namespace fwbench::report
