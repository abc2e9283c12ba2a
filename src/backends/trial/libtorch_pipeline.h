#pragma once
// Task input_pipeline on LibTorch: fwbench's own C++ loader (data/pipeline_loader.h), the
// reference the frameworks' input pipelines are compared with (docs/data-pipelines.md).
#include <cstdint>

#include "core/protocol.h"
#include "core/trial_spec.h"

namespace fwbench {

// Each step is the wait for the next batch, and with model_step train the training step on it.
// Throws UsageError for bad input (a file that does not decode names the file).
int RunLibtorchPipelineTrial(const TrialSpec& spec, std::int64_t t_main_ns,
                             protocol::EventWriter& events);

}  // namespace fwbench
