#pragma once
// The LLM LoRA workload on the LibTorch backend (workload "llm_lora" of the trial spec): a
// Hugging Face Llama checkpoint with LoRA adapters, trained on the plan's token file, or
// generating with a KV cache. Kept free of torch headers.
#include <cstdint>
#include <string>

#include "core/protocol.h"
#include "core/trial_spec.h"

namespace fwbench {

struct TrialFaults;

// Runs the trial after `hello`-less setup; throws like the image trial (UsageError, TraceError,
// anything else). RunLibtorchTrial dispatches here.
int RunLibtorchLlmTrial(const TrialSpec& spec, std::int64_t t_main_ns,
                        protocol::EventWriter& events, const TrialFaults& faults);

// Empty when libtorch runs this LLM combination; otherwise why not.
std::string LibtorchLlmUnsupportedReason(const std::string& mode, const std::string& task,
                                         const std::string& precision);

}  // namespace fwbench
