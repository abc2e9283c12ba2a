#pragma once
// The LibTorch side of the LLM export matrix (docs/llm.md, "Export portability"): greedy
// generation through an exported step (TorchScript, AOTInductor) or through the merged checkpoint
// in the C++ model (the reference), by the same protocol as workers/python/fwbench_workers/
// llm_export.py and workers/node/lib/llm_run.js.
#include <nlohmann/json.hpp>

namespace fwbench {

// `request`: runtime ("libtorch", "torchscript", "aoti"), file, prompt, new_tokens, cache_len,
// config, threads, repeats, out. Returns the answer: ok, runtime, load_s, tokens, prefill_s,
// decode_s, logits (out/logits.safetensors); or ok false with stage and reason when the runtime
// refuses the file or fails on it. Throws UsageError for a malformed request or prompt.
nlohmann::json RunLlmStep(const nlohmann::json& request);

}  // namespace fwbench
