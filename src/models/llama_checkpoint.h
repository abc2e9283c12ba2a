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

// Writes adapter_model.safetensors and adapter_config.json into `dir`.
void SavePeftAdapter(const LlamaForCausalLm& model, const std::filesystem::path& dir,
                     const std::string& base_model_name_or_path);
// Loads adapter weights (model must have adapters with the folder's rank and targets).
void LoadPeftAdapter(LlamaForCausalLm& model, const std::filesystem::path& dir);

// True when `dir` looks like a checkpoint folder (has config.json).
bool IsCheckpointFolder(const std::filesystem::path& dir);

}  // namespace fwbench::models
