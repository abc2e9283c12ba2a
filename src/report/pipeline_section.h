#pragma once
// Task input_pipeline in the views (docs/data-pipelines.md): one row per input pipeline and
// setting, for the terminal table and the report's "Input pipelines" section.
#include <string>
#include <vector>

#include "analysis/run_results.h"
#include "report/report_document.h"

namespace fwbench::report {

// Header row first: configuration, loader, workers, consumer, samples/s [95% CI], time to first
// batch, CPU s per 1,000 samples, peak RSS, batch check; only the header without pipelines.
std::vector<std::vector<std::string>> PipelineRows(const RunResults& results);

// Each loader's settings as its trials set them, and what its framework's docs recommend.
std::vector<std::string> PipelineSettingsLines(const RunResults& results);

Section PipelineSection(const RunResults& results);

}  // namespace fwbench::report
