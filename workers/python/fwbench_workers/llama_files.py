"""The Llama checkpoint folder and PEFT names as the LLM ports read them, with numpy only (no
framework import): config.json, single-file or sharded model.safetensors."""
import json
import os

from . import safetensors_np
from .protocol import UsageError

PEFT_PREFIX = "base_model.model."


def read_config(folder):
    path = os.path.join(folder, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise UsageError(f"{path}: cannot read the model configuration: {e}") from e
    if raw.get("model_type") != "llama" and "LlamaForCausalLM" not in raw.get("architectures", []):
        raise UsageError(f"{path}: not a Llama checkpoint (model_type {raw.get('model_type')!r})")
    c = {k: raw[k] for k in ("vocab_size", "hidden_size", "intermediate_size",
                             "num_hidden_layers", "num_attention_heads")}
    c["num_key_value_heads"] = raw.get("num_key_value_heads") or c["num_attention_heads"]
    c["max_position_embeddings"] = raw.get("max_position_embeddings", 2048)
    c["rms_norm_eps"] = raw.get("rms_norm_eps", 1e-6)
    c["rope_theta"] = raw.get("rope_theta", 10000.0)
    c["tie_word_embeddings"] = bool(raw.get("tie_word_embeddings", False))
    return c


def read_checkpoint(folder):
    """{name: numpy array} of a single-file or sharded Hugging Face checkpoint."""
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index, encoding="utf-8") as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
    else:
        shards = ["model.safetensors"]
    tensors = {}
    for shard in shards:
        path = os.path.join(folder, shard)
        if not os.path.isfile(path):
            raise UsageError(f"checkpoint '{folder}': shard '{shard}' is missing")
        tensors.update(safetensors_np.read(path)[0])
    return {k: v for k, v in tensors.items() if not k.endswith("rotary_emb.inv_freq")}


def read_adapter(folder):
    """(path, {name without PEFT's prefix: array}) of a PEFT folder's adapter_model.safetensors."""
    path = os.path.join(folder, "adapter_model.safetensors")
    raw = safetensors_np.read(path)[0]
    return path, {k[len(PEFT_PREFIX):] if k.startswith(PEFT_PREFIX) else k: v
                  for k, v in raw.items()}


def check_names(expected, tensors, what):
    """The names a port loads against the file's: none missing, none left over."""
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise UsageError(f"{what} does not match the model: missing {missing[:5]}, "
                         f"unexpected {extra[:5]}")
