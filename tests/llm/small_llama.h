#pragma once
// A Llama shape small enough for unit tests: grouped-query attention (4 heads, 2 key/value
// heads), 64-token vocabulary, `layers` layers.
#include <cstdint>

#include "models/llama.h"

namespace fwbench::models {

inline LlamaConfig SmallLlamaConfig(std::int64_t layers) {
  return {.vocab_size = 64,
          .hidden_size = 32,
          .intermediate_size = 48,
          .num_hidden_layers = layers,
          .num_attention_heads = 4,
          .num_key_value_heads = 2,
          .max_position_embeddings = 64};
}

}  // namespace fwbench::models
