#include "backends/inputs/llm_inputs.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "core/error.h"
#include "data/text_corpus.h"
#include "models/llama.h"
#include "models/llama_checkpoint.h"

namespace fwbench {

namespace {

namespace fs = std::filesystem;

// FNV-1a of a string: names cache files after what they were made from.
std::string Hash(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return fmt::format("{:016x}", h);
}

std::string FileIdentity(const fs::path& p) {
  std::error_code ec;
  const auto size = fs::file_size(p, ec);
  const auto time = fs::last_write_time(p, ec).time_since_epoch().count();
  return fmt::format("{}|{}|{}", fs::absolute(p).string(), size, time);
}

fs::path EnsureCheckpoint(const LlmPrepareOptions& o, std::ostream& log) {
  if (!o.checkpoint.empty()) {
    log << fmt::format("checking the checkpoint {} …\n", o.checkpoint.string());
    if (!fs::is_directory(o.checkpoint)) {
      throw UsageError(fmt::format(
          "llm.checkpoint '{}' is not a folder (expected a Hugging Face checkpoint folder with "
          "config.json and model.safetensors or shards)",
          o.checkpoint.string()));
    }
    models::CheckLlamaCheckpoint(o.checkpoint);
    return fs::absolute(o.checkpoint);
  }
  const models::LlamaConfig config = models::LlamaPreset(o.preset);
  const fs::path dir = fs::absolute(o.cache_dir / fmt::format("llm-{}-s{}", o.preset, o.seed));
  if (fs::exists(dir / "config.json")) {
    try {
      models::CheckLlamaCheckpoint(dir);
      return dir;
    } catch (const UsageError& e) {
      log << fmt::format("cached checkpoint is unusable, generating it again: {}\n", e.what());
    }
  }
  log << fmt::format("generating the {} checkpoint ({:.1f}M parameters) in {} …\n", o.preset,
                     static_cast<double>(config.NumParameters()) * 1e-6, dir.string());
  models::LlamaForCausalLm model(config);
  model->InitWeights(o.seed);
  models::SaveLlamaCheckpoint(model, dir);
  return dir;
}

// The SentencePiece model the plan asks for, or empty for bytes.
fs::path SentencePieceModel(const LlmPrepareOptions& o, const fs::path& checkpoint) {
  if (o.tokenizer == "bytes") return {};
  if (o.tokenizer == "auto") {
    return fs::exists(checkpoint / "tokenizer.model") ? checkpoint / "tokenizer.model" : fs::path();
  }
  if (!fs::is_regular_file(o.tokenizer)) {
    throw UsageError(
        fmt::format("llm.tokenizer '{}' is not a file (expected auto, bytes, or the "
                    "path of a SentencePiece tokenizer.model)",
                    o.tokenizer));
  }
  return fs::absolute(o.tokenizer);
}

}  // namespace

LlmPrepared PrepareLlmInputs(const LlmPrepareOptions& o, std::ostream& log) {
  const models::LoraOptions lora{.rank = o.lora_rank,
                                 .alpha = o.lora_alpha,
                                 .dropout = o.lora_dropout,
                                 .targets = o.lora_targets};
  lora.Validate("plan fields llm.lora_*");
  fs::create_directories(o.cache_dir);
  LlmPrepared out;
  out.checkpoint = EnsureCheckpoint(o, log);
  const models::LlamaConfig config = models::ReadLlamaConfig(out.checkpoint / "config.json");
  if (o.seq_len > config.max_position_embeddings) {
    throw UsageError(fmt::format(
        "llm.seq_len {} is longer than the model's "
        "max_position_embeddings {} ({})",
        o.seq_len, config.max_position_embeddings, (out.checkpoint / "config.json").string()));
  }
  if (std::min(o.prompt_tokens, o.seq_len) + o.decode_tokens > config.max_position_embeddings) {
    throw UsageError(fmt::format(
        "llm.prompt_tokens + llm.decode_tokens = {} exceed the model's max_position_embeddings {}",
        std::min(o.prompt_tokens, o.seq_len) + o.decode_tokens, config.max_position_embeddings));
  }

  fs::path corpus = o.corpus;
  if (corpus.empty()) {
    corpus = fs::absolute(
        o.cache_dir / fmt::format("synthetic-corpus-s{}-{}.jsonl", o.seed, o.synthetic_documents));
    if (!fs::exists(corpus)) {
      data::WriteSyntheticCorpus(corpus, o.seed, o.synthetic_documents);
      log << fmt::format("generated the synthetic corpus {}\n", corpus.string());
    }
  } else if (!fs::is_regular_file(corpus)) {
    throw UsageError(
        fmt::format("llm.corpus '{}' is not a file (expected .txt or .jsonl)", corpus.string()));
  }
  const fs::path sp_model = SentencePieceModel(o, out.checkpoint);
  const std::string tokenizer_id = sp_model.empty() ? "bytes" : FileIdentity(sp_model);
  out.tokens = fs::absolute(
      o.cache_dir /
      fmt::format("tokens-{}.safetensors",
                  Hash(fmt::format("{}|{}|{}", FileIdentity(corpus), tokenizer_id, o.seq_len))));
  if (!fs::exists(out.tokens)) {
    if (sp_model.empty()) {
      data::WriteTokenBlocks(
          data::PackDocuments(data::ReadDocuments(corpus), *data::MakeByteTokenizer(), o.seq_len,
                              corpus.string()),
          out.tokens);
    } else {
      if (!o.pack_sentencepiece) throw std::logic_error("no SentencePiece packer given");
      o.pack_sentencepiece(corpus, sp_model, o.seq_len, out.tokens);
    }
  }
  const data::TokenBlocks blocks = data::ReadTokenBlocks(out.tokens);
  log << fmt::format("tokens: {} sequences of {} + 1 from {} ({})\n", blocks.count(),
                     blocks.seq_len, corpus.string(), blocks.tokenizer);
  // The tokenizer must belong to the checkpoint: ids beyond its vocabulary would index past the
  // embedding table.
  if (blocks.vocab_size > config.vocab_size) {
    throw UsageError(fmt::format(
        "tokenizer {} has {} tokens, but the model's vocab_size is {} ({}): the tokenizer does "
        "not belong to this checkpoint",
        sp_model.empty() ? "bytes" : sp_model.string(), blocks.vocab_size, config.vocab_size,
        (out.checkpoint / "config.json").string()));
  }

  if (!o.adapter.empty()) {
    out.adapter_init = fs::absolute(o.adapter);
    const models::LoraOptions given = models::CheckPeftAdapter(config, out.adapter_init);
    const auto sorted = [](std::vector<std::string> v) {
      std::sort(v.begin(), v.end());
      return v;
    };
    std::vector<std::string> differ;
    if (given.rank != lora.rank) {
      differ.push_back(fmt::format("r {} while the plan has llm.lora_rank {} (--lora-rank {})",
                                   given.rank, lora.rank, given.rank));
    }
    if (given.alpha != lora.alpha) {
      differ.push_back(
          fmt::format("lora_alpha {} while the plan has llm.lora_alpha {} "
                      "(--lora-alpha {})",
                      given.alpha, lora.alpha, given.alpha));
    }
    if (sorted(given.targets) != sorted(lora.targets)) {
      differ.push_back(fmt::format(
          "target_modules [{}] while the plan has llm.lora_targets [{}] (--lora-targets {})",
          fmt::join(given.targets, ", "), fmt::join(lora.targets, ", "),
          fmt::join(given.targets, ",")));
    }
    if (!differ.empty()) {
      throw UsageError(fmt::format(
          "llm.adapter '{}': its adapter_config.json does not fit the plan: {}; set the plan's "
          "LoRA options to the adapter's",
          o.adapter.string(), fmt::join(differ, "; ")));
    }
    log << fmt::format("adapters: starting from {}\n", out.adapter_init.string());
  } else {
    const std::string adapter_key =
        fmt::format("{}|{}|{}|{}|{}", FileIdentity(out.checkpoint / "config.json"), lora.rank,
                    lora.alpha, fmt::join(lora.targets, "+"), o.seed);
    out.adapter_init =
        fs::absolute(o.cache_dir / fmt::format("adapter-init-{}", Hash(adapter_key)));
    if (!fs::exists(out.adapter_init / "adapter_config.json")) {
      models::WriteInitialPeftAdapter(config, lora, o.seed, out.adapter_init,
                                      out.checkpoint.string());
    }
  }

  const std::int64_t prompt = std::min(o.prompt_tokens, o.seq_len);
  out.facts = {
      {"model", o.checkpoint.empty() ? o.preset : out.checkpoint.string()},
      {"checkpoint", out.checkpoint.string()},
      {"parameters", config.NumParameters()},
      {"adapter_parameters", models::AdapterParameterCount(config, lora)},
      {"adapter", o.adapter.empty() ? "fresh (PEFT's initialisation, from the seed)"
                                    : out.adapter_init.string()},
      {"vocab_size", config.vocab_size},
      {"seq_len", o.seq_len},
      {"sequences", blocks.count()},
      {"tokenizer", blocks.tokenizer},
      {"train_flops_per_token", models::LoraTrainFlopsPerToken(config, lora, o.seq_len)},
      {"prefill_flops_per_token", models::ForwardFlopsPerToken(config, prompt)},
      {"decode_flops_per_token",
       models::ForwardFlopsPerToken(config, prompt + o.decode_tokens / 2)},
  };
  return out;
}

}  // namespace fwbench
