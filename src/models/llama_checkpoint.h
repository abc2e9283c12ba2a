#pragma once
// Hugging Face checkpoint folders for the Llama model (models/llama.h) and PEFT LoRA adapters.
//
// A checkpoint folder holds config.json (LlamaForCausalLM / model_type "llama") and the weights
// as one model.safetensors, or as shards listed by model.safetensors.index.json
// ({"weight_map": {tensor name: shard file}}). Everything is checked before any weight is
// copied, and every problem names the file and the tensor: an unknown architecture, a shard
// the index lists that is missing, a tensor the model needs that no file holds, a tensor whose
// shape differs from what config.json implies, a dtype that cannot convert.
//
// A PEFT adapter folder holds adapter_model.safetensors (names
// "base_model.model.<Hugging Face name>.lora_A.weight", …) and adapter_config.json, as
// peft.PeftModel.from_pretrained reads them.
#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "models/llama.h"

namespace fwbench::models {

// Reads and validates config.json. Throws UsageError naming the file and field.
LlamaConfig ReadLlamaConfig(const std::filesystem::path& config_json);
nlohmann::json ToHfConfigJson(const LlamaConfig& config);

// Writes config.json and the base weights (adapters are not part of a base checkpoint): one
// model.safetensors when it stays under max_shard_bytes, else shards
// model-0000i-of-0000n.safetensors plus model.safetensors.index.json, like save_pretrained.
void SaveLlamaCheckpoint(const LlamaForCausalLm& model, const std::filesystem::path& dir,
                         std::int64_t max_shard_bytes = std::int64_t{5} << 30);

// Loads the base weights of `dir` into `model` (which was built from the folder's config.json).
void LoadLlamaCheckpoint(LlamaForCausalLm& model, const std::filesystem::path& dir);

// Checks a checkpoint folder without loading it: config.json, every file, every tensor's name,
// shape and dtype against what config.json implies. Returns the configuration.
LlamaConfig CheckLlamaCheckpoint(const std::filesystem::path& dir);

// Writes adapter_model.safetensors and adapter_config.json into `dir`.
void SavePeftAdapter(const LlamaForCausalLm& model, const std::filesystem::path& dir,
                     const std::string& base_model_name_or_path);
// Writes the initial adapters of a model of `config` without building it (a 1.1B model is not
// allocated to draw a few MB of adapters): lora_A ~ U(±1/√in) (kaiming-uniform with a = √5, as
// PEFT), lora_B = 0, drawn from `seed`. Every backend loads this folder, so all start alike.
void WriteInitialPeftAdapter(const LlamaConfig& config, const LoraOptions& lora, std::uint64_t seed,
                             const std::filesystem::path& dir,
                             const std::string& base_model_name_or_path);

// Loads adapter weights (model must have adapters with the folder's rank and targets).
void LoadPeftAdapter(LlamaForCausalLm& model, const std::filesystem::path& dir);

// The LoRA options of a PEFT adapter folder's adapter_config.json (r, lora_alpha, lora_dropout,
// target_modules). Throws UsageError naming the file and field.
LoraOptions ReadAdapterConfig(const std::filesystem::path& dir);

// Checks a PEFT adapter folder against a model of `config` without loading it: adapter_config.json,
// then every lora_A [r, in] and lora_B [out, r] its targets imply, by name, shape and dtype.
// Returns the folder's LoRA options; throws UsageError naming the file and tensor.
LoraOptions CheckPeftAdapter(const LlamaConfig& config, const std::filesystem::path& dir);

// Loads the checkpoint `base`, applies the adapters of `adapter`, merges them into the base
// weights (W += alpha/r · B A) and saves a plain checkpoint to `out` that needs no adapters.
void MergeAdapterIntoCheckpoint(const std::filesystem::path& base,
                                const std::filesystem::path& adapter,
                                const std::filesystem::path& out);

// True when `dir` looks like a checkpoint folder (has config.json).
bool IsCheckpointFolder(const std::filesystem::path& dir);

}  // namespace fwbench::models
