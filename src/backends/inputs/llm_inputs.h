#pragma once
// What an LLM LoRA plan prepares once, before any trial: the base checkpoint (the user's, checked
// up front, or one generated from a preset and the seed), the initial adapters every backend
// loads, and the packed token file every backend reads. Kept free of torch headers.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fwbench {

// Packs `corpus` with the SentencePiece `model` into the token file `out`, in the
// fwbench-tokenize process (src/tokenize/ says why). Returns the tokenizer's vocabulary size;
// throws UsageError with the tool's message.
using SentencePiecePacker = std::function<std::int64_t(
    const std::filesystem::path& corpus, const std::filesystem::path& model, std::int64_t seq_len,
    const std::filesystem::path& out)>;

struct LlmPrepareOptions {
  std::string preset = "tiny";
  std::filesystem::path checkpoint;  // empty: generate `preset`
  std::filesystem::path corpus;      // empty: synthetic
  std::string tokenizer = "auto";
  std::int64_t seq_len = 128;
  std::int64_t synthetic_documents = 2000;
  std::int64_t lora_rank = 8;
  double lora_alpha = 16.0;
  double lora_dropout = 0.0;
  std::vector<std::string> lora_targets = {"q_proj", "v_proj"};
  std::filesystem::path adapter;  // a PEFT folder to start from; empty: fresh adapters
  std::int64_t prompt_tokens = 64;
  std::int64_t decode_tokens = 32;
  std::uint64_t seed = 1;
  std::filesystem::path cache_dir;  // generated files go here, reused by later runs
  SentencePiecePacker pack_sentencepiece;
};

struct LlmPrepared {
  std::filesystem::path checkpoint;
  std::filesystem::path adapter_init;
  std::filesystem::path tokens;
  // model, parameters, adapter_parameters, vocab_size, seq_len, sequences, tokenizer,
  // train_flops_per_token, prefill_flops_per_token, decode_flops_per_token.
  nlohmann::json facts;
};

// Throws UsageError (naming the file, tensor or field) for a bad checkpoint, corpus or
// tokenizer, before any trial runs. Progress lines go to `log`.
LlmPrepared PrepareLlmInputs(const LlmPrepareOptions& options, std::ostream& log);

}  // namespace fwbench
