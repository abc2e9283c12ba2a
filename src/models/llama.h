#pragma once
// A decoder-only transformer of the Llama family (RMSNorm, rotary position embeddings in the
// Hugging Face "rotate half" layout, SwiGLU MLP, causal attention with grouped-query heads) with
// LoRA adapters, in LibTorch's C++ frontend. Parameter names are exactly those of Hugging Face's
// LlamaForCausalLM state dict (model.embed_tokens.weight, model.layers.N.self_attn.q_proj.weight,
// …, model.norm.weight, lm_head.weight) so that a real checkpoint loads
// (models/llama_checkpoint.h). Adapters live beside the frozen base weight of a projection as
// lora_A.weight / lora_B.weight, the names PEFT uses.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace fwbench::models {

// The fields of Hugging Face's LlamaConfig that change the computation.
struct LlamaConfig {
  std::int64_t vocab_size = 256;
  std::int64_t hidden_size = 256;
  std::int64_t intermediate_size = 688;
  std::int64_t num_hidden_layers = 4;
  std::int64_t num_attention_heads = 8;
  std::int64_t num_key_value_heads = 4;
  std::int64_t max_position_embeddings = 512;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;

  std::int64_t head_dim() const { return hidden_size / num_attention_heads; }
  // Throws UsageError naming the field (prefixed by `source`) when the shape is inconsistent.
  void Validate(const std::string& source) const;
  // Parameters of the base model (without adapters).
  std::int64_t NumParameters() const;
};

// Name and shape of every base parameter a model of this configuration has, in Hugging Face
// naming, without building it (a 1.1B checkpoint is checked without allocating 4 GB).
std::vector<std::pair<std::string, std::vector<std::int64_t>>> ExpectedParameterShapes(
    const LlamaConfig& config);

// "tiny" (~3M parameters, byte vocabulary: tests and the default plan), "125m" (GPT-2-small
// sized, 32000 vocabulary), "tinyllama-1.1b" (TinyLlama-1.1B's shape). Throws UsageError listing
// the presets for any other name.
LlamaConfig LlamaPreset(const std::string& name);
const std::vector<std::string>& LlamaPresetNames();

struct LoraOptions {
  std::int64_t rank = 8;
  double alpha = 16.0;
  double dropout = 0.0;
  // Projection names: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj.
  std::vector<std::string> targets = {"q_proj", "v_proj"};

  double scaling() const { return alpha / static_cast<double>(rank); }
  void Validate(const std::string& source) const;
};

const std::vector<std::string>& LlamaProjectionNames();

// One projection that gets an adapter: its module name ("model.layers.3.self_attn.q_proj") and
// its base weight's features; lora_A is [rank, in], lora_B [out, rank].
struct AdaptedProjection {
  std::string module;
  std::int64_t in = 0;
  std::int64_t out = 0;
};
// Every projection `lora` adapts in a model of `config`, layer by layer, without building it.
std::vector<AdaptedProjection> AdaptedProjections(const LlamaConfig& config,
                                                  const LoraOptions& lora);
// rank · (in + out) summed over AdaptedProjections.
std::int64_t AdapterParameterCount(const LlamaConfig& config, const LoraOptions& lora);

// A bias-free projection y = x Wᵀ, optionally with a LoRA adapter: y += scaling · B(A(dropout(x))).
// The base weight is registered as "weight" so that its name is Hugging Face's.
class ProjectionImpl : public torch::nn::Module {
 public:
  ProjectionImpl(std::int64_t in_features, std::int64_t out_features);
  torch::Tensor forward(const torch::Tensor& x);

  // A ~ kaiming-uniform(a = √5) and B = 0, as PEFT initialises them: the adapted model starts
  // as the base model.
  void AddAdapter(const LoraOptions& options);
  // W += scaling · B A, then the adapter is gone.
  void MergeAdapter();
  bool has_adapter() const { return !lora_A.is_empty(); }

  torch::Tensor weight;
  torch::nn::Linear lora_A{nullptr};
  torch::nn::Linear lora_B{nullptr};
  torch::nn::Dropout lora_dropout{nullptr};
  double scaling = 0.0;
  double dropout = 0.0;
};
TORCH_MODULE(Projection);

class RmsNormImpl : public torch::nn::Module {
 public:
  RmsNormImpl(std::int64_t size, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(RmsNorm);

// Keys and values of the positions seen so far, per layer, preallocated for max_length tokens.
struct KvCache {
  std::vector<torch::Tensor> keys;    // [batch, kv_heads, max_length, head_dim]
  std::vector<torch::Tensor> values;  // same
  std::int64_t length = 0;            // positions filled
};

class LlamaAttentionImpl : public torch::nn::Module {
 public:
  explicit LlamaAttentionImpl(const LlamaConfig& config);
  // x: [batch, tokens, hidden]; cos/sin: [tokens, head_dim] for the tokens' positions. With a
  // cache, the keys and values of these tokens are stored at cache positions
  // [start, start + tokens) and attention covers every cached position up to the last.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        torch::Tensor* cache_k, torch::Tensor* cache_v, std::int64_t start);

  Projection q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  std::int64_t heads, kv_heads, head_dim;
};
TORCH_MODULE(LlamaAttention);

class LlamaMlpImpl : public torch::nn::Module {
 public:
  explicit LlamaMlpImpl(const LlamaConfig& config);
  torch::Tensor forward(const torch::Tensor& x);
  Projection gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(LlamaMlp);

class LlamaDecoderLayerImpl : public torch::nn::Module {
 public:
  explicit LlamaDecoderLayerImpl(const LlamaConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        torch::Tensor* cache_k, torch::Tensor* cache_v, std::int64_t start);
  RmsNorm input_layernorm{nullptr};
  LlamaAttention self_attn{nullptr};
  RmsNorm post_attention_layernorm{nullptr};
  LlamaMlp mlp{nullptr};
};
TORCH_MODULE(LlamaDecoderLayer);

// Hugging Face's LlamaModel: embeddings, layers, final norm.
class LlamaBodyImpl : public torch::nn::Module {
 public:
  explicit LlamaBodyImpl(const LlamaConfig& config);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RmsNorm norm{nullptr};
};
TORCH_MODULE(LlamaBody);

// Hugging Face's LlamaForCausalLM.
class LlamaForCausalLmImpl : public torch::nn::Module {
 public:
  explicit LlamaForCausalLmImpl(const LlamaConfig& config);

  // tokens: [batch, length] int64 → logits [batch, length, vocab] (fp32 whatever the weights).
  torch::Tensor forward(const torch::Tensor& tokens);
  // Same, through a KV cache: the tokens are at positions [cache.length, cache.length + length),
  // and cache.length advances by length.
  torch::Tensor forward(const torch::Tensor& tokens, KvCache& cache);
  KvCache NewCache(std::int64_t batch, std::int64_t max_length) const;

  // Freezes every base parameter and adds adapters to the target projections of every layer.
  void AddAdapters(const LoraOptions& options);
  void MergeAdapters();
  // Named adapter parameters, in Hugging Face naming (model.layers.N.…​.lora_A.weight).
  std::vector<std::pair<std::string, torch::Tensor>> AdapterParameters() const;
  // Named base parameters (everything but adapters).
  std::vector<std::pair<std::string, torch::Tensor>> BaseParameters() const;

  // Hugging Face's _init_weights: N(0, 0.02) for projections and embeddings, ones for norms.
  void InitWeights(std::uint64_t seed);

  const LlamaConfig& config() const { return config_; }
  std::optional<LoraOptions> lora;

  LlamaBody model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // absent with tie_word_embeddings

 private:
  torch::Tensor Run(const torch::Tensor& tokens, KvCache* cache);
  // cos/sin tables for positions [start, start + length), computed in fp32.
  std::pair<torch::Tensor, torch::Tensor> Rope(std::int64_t start, std::int64_t length,
                                               const torch::Device& device) const;

  LlamaConfig config_;
  torch::Tensor inv_freq_;  // not a parameter or buffer: it is not in a Llama state dict
};
TORCH_MODULE(LlamaForCausalLm);

// Analytical training FLOPs per token of a LoRA fine-tune (forward 2·N_base + attention, backward
// through the activations 2·N_base + attention, no base weight gradients; adapters counted fully),
// the PaLM-appendix convention; `seq_len` sets the attention term.
double LoraTrainFlopsPerToken(const LlamaConfig& config, const LoraOptions& lora,
                              std::int64_t seq_len);
// Forward FLOPs per token at a context of `context` tokens.
double ForwardFlopsPerToken(const LlamaConfig& config, std::int64_t context);

}  // namespace fwbench::models
