#include "models/llama.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"

namespace fwbench::models {

namespace {

const std::map<std::string, LlamaConfig>& Presets() {
  static const std::map<std::string, LlamaConfig> presets = {
      {"tiny",
       {.vocab_size = 256,
        .hidden_size = 256,
        .intermediate_size = 688,
        .num_hidden_layers = 4,
        .num_attention_heads = 8,
        .num_key_value_heads = 4,
        .max_position_embeddings = 512}},
      {"125m",
       {.vocab_size = 32000,
        .hidden_size = 768,
        .intermediate_size = 2048,
        .num_hidden_layers = 12,
        .num_attention_heads = 12,
        .num_key_value_heads = 4,
        .max_position_embeddings = 2048}},
      {"tinyllama-1.1b",
       {.vocab_size = 32000,
        .hidden_size = 2048,
        .intermediate_size = 5632,
        .num_hidden_layers = 22,
        .num_attention_heads = 32,
        .num_key_value_heads = 4,
        .max_position_embeddings = 2048}},
  };
  return presets;
}

// The last half of the features, negated, then the first half: Hugging Face's rotate_half.
torch::Tensor RotateHalf(const torch::Tensor& x) {
  const auto half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// [batch, kv_heads, tokens, dim] → [batch, kv_heads · groups, tokens, dim], each kv head repeated
// for the query heads that share it (Hugging Face's repeat_kv).
torch::Tensor RepeatKv(const torch::Tensor& x, std::int64_t groups) {
  if (groups == 1) return x;
  const auto b = x.size(0), h = x.size(1), t = x.size(2), d = x.size(3);
  return x.unsqueeze(2).expand({b, h, groups, t, d}).reshape({b, h * groups, t, d});
}

std::int64_t Positive(std::int64_t v, const char* field, const std::string& source) {
  if (v <= 0) {
    throw UsageError(fmt::format("{}: {} is {}, expected a positive integer", source, field, v));
  }
  return v;
}

}  // namespace

void LlamaConfig::Validate(const std::string& source) const {
  Positive(vocab_size, "vocab_size", source);
  Positive(hidden_size, "hidden_size", source);
  Positive(intermediate_size, "intermediate_size", source);
  Positive(num_hidden_layers, "num_hidden_layers", source);
  Positive(num_attention_heads, "num_attention_heads", source);
  Positive(num_key_value_heads, "num_key_value_heads", source);
  Positive(max_position_embeddings, "max_position_embeddings", source);
  if (hidden_size % num_attention_heads != 0) {
    throw UsageError(fmt::format(
        "{}: hidden_size {} is not a multiple of num_attention_heads {}: each head gets "
        "hidden_size / num_attention_heads features",
        source, hidden_size, num_attention_heads));
  }
  if (head_dim() % 2 != 0) {
    throw UsageError(fmt::format(
        "{}: the head dimension hidden_size / num_attention_heads = {} is odd; rotary embeddings "
        "rotate pairs of features",
        source, head_dim()));
  }
  if (num_attention_heads % num_key_value_heads != 0) {
    throw UsageError(fmt::format(
        "{}: num_attention_heads {} is not a multiple of num_key_value_heads {} (grouped-query "
        "attention shares each key/value head among a whole number of query heads)",
        source, num_attention_heads, num_key_value_heads));
  }
  if (!(rms_norm_eps > 0.0) || !(rope_theta > 0.0)) {
    throw UsageError(fmt::format("{}: rms_norm_eps and rope_theta must be positive", source));
  }
}

std::int64_t LlamaConfig::NumParameters() const {
  const std::int64_t kv = num_key_value_heads * head_dim();
  const std::int64_t attention = 2 * hidden_size * hidden_size + 2 * hidden_size * kv;
  const std::int64_t mlp = 3 * hidden_size * intermediate_size;
  const std::int64_t layer = attention + mlp + 2 * hidden_size;
  const std::int64_t embeddings = vocab_size * hidden_size * (tie_word_embeddings ? 1 : 2);
  return num_hidden_layers * layer + embeddings + hidden_size;
}

std::vector<std::pair<std::string, std::vector<std::int64_t>>> ExpectedParameterShapes(
    const LlamaConfig& c) {
  const std::int64_t h = c.hidden_size, kv = c.num_key_value_heads * c.head_dim();
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> out = {
      {"model.embed_tokens.weight", {c.vocab_size, h}}, {"model.norm.weight", {h}}};
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, h}});
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    out.push_back({p + "input_layernorm.weight", {h}});
    out.push_back({p + "post_attention_layernorm.weight", {h}});
    out.push_back({p + "self_attn.q_proj.weight", {h, h}});
    out.push_back({p + "self_attn.k_proj.weight", {kv, h}});
    out.push_back({p + "self_attn.v_proj.weight", {kv, h}});
    out.push_back({p + "self_attn.o_proj.weight", {h, h}});
    out.push_back({p + "mlp.gate_proj.weight", {c.intermediate_size, h}});
    out.push_back({p + "mlp.up_proj.weight", {c.intermediate_size, h}});
    out.push_back({p + "mlp.down_proj.weight", {h, c.intermediate_size}});
  }
  return out;
}

std::vector<AdaptedProjection> AdaptedProjections(const LlamaConfig& config,
                                                  const LoraOptions& lora) {
  std::vector<AdaptedProjection> out;
  for (const auto& [name, shape] : ExpectedParameterShapes(config)) {
    if (!name.starts_with("model.layers.")) continue;
    std::string module = name.substr(0, name.size() - std::string_view(".weight").size());
    const std::string projection = module.substr(module.rfind('.') + 1);
    if (std::find(lora.targets.begin(), lora.targets.end(), projection) == lora.targets.end()) {
      continue;
    }
    out.push_back({std::move(module), shape[1], shape[0]});
  }
  return out;
}

std::int64_t AdapterParameterCount(const LlamaConfig& config, const LoraOptions& lora) {
  std::int64_t n = 0;
  for (const AdaptedProjection& p : AdaptedProjections(config, lora)) {
    n += lora.rank * (p.in + p.out);
  }
  return n;
}

LlamaConfig LlamaPreset(const std::string& name) {
  const auto it = Presets().find(name);
  if (it == Presets().end()) {
    throw UsageError(
        fmt::format("unknown model preset '{}' (known: {}; or point at a Hugging Face "
                    "checkpoint folder with config.json)",
                    name, fmt::join(LlamaPresetNames(), ", ")));
  }
  return it->second;
}

const std::vector<std::string>& LlamaPresetNames() {
  static const std::vector<std::string> names = {"tiny", "125m", "tinyllama-1.1b"};
  return names;
}

const std::vector<std::string>& LlamaProjectionNames() {
  static const std::vector<std::string> names = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                 "gate_proj", "up_proj", "down_proj"};
  return names;
}

void LoraOptions::Validate(const std::string& source) const {
  Positive(rank, "lora rank", source);
  if (!(alpha > 0.0)) throw UsageError(fmt::format("{}: lora alpha must be positive", source));
  if (!(dropout >= 0.0 && dropout < 1.0)) {
    throw UsageError(
        fmt::format("{}: lora dropout is {}, expected 0 ≤ dropout < 1", source, dropout));
  }
  if (targets.empty()) {
    throw UsageError(fmt::format("{}: lora targets is empty; name at least one of {}", source,
                                 fmt::join(LlamaProjectionNames(), ", ")));
  }
  for (const auto& t : targets) {
    const auto& known = LlamaProjectionNames();
    if (std::find(known.begin(), known.end(), t) == known.end()) {
      throw UsageError(
          fmt::format("{}: lora target '{}' is not a projection of a Llama layer "
                      "(known: {})",
                      source, t, fmt::join(known, ", ")));
    }
  }
}

ProjectionImpl::ProjectionImpl(std::int64_t in_features, std::int64_t out_features) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}));
}

torch::Tensor ProjectionImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::nn::functional::linear(x, weight);
  if (!lora_A.is_empty()) {
    // Dropout with p = 0 would still draw a mask per call in training mode: skip it.
    const torch::Tensor a = lora_A(dropout > 0.0 ? lora_dropout(x) : x);
    y = y + lora_B(a) * scaling;
  }
  return y;
}

void ProjectionImpl::AddAdapter(const LoraOptions& options) {
  const auto out_features = weight.size(0), in_features = weight.size(1);
  lora_dropout = register_module("lora_dropout", torch::nn::Dropout(options.dropout));
  lora_A = register_module(
      "lora_A", torch::nn::Linear(torch::nn::LinearOptions(in_features, options.rank).bias(false)));
  lora_B = register_module(
      "lora_B",
      torch::nn::Linear(torch::nn::LinearOptions(options.rank, out_features).bias(false)));
  torch::NoGradGuard no_grad;
  lora_A->to(weight.device());
  lora_B->to(weight.device());
  torch::nn::init::kaiming_uniform_(lora_A->weight, std::sqrt(5.0));
  lora_B->weight.zero_();
  scaling = options.scaling();
  dropout = options.dropout;
}

void ProjectionImpl::MergeAdapter() {
  if (lora_A.is_empty()) return;
  {
    torch::NoGradGuard no_grad;
    weight.add_(torch::matmul(lora_B->weight, lora_A->weight).to(weight.dtype()) * scaling);
  }
  unregister_module("lora_A");
  unregister_module("lora_B");
  unregister_module("lora_dropout");
  lora_A = nullptr;
  lora_B = nullptr;
  lora_dropout = nullptr;
}

RmsNormImpl::RmsNormImpl(std::int64_t size, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({size}));
}

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) {
  // In fp32 whatever the input, then back, as Hugging Face's LlamaRMSNorm.
  const torch::Tensor x32 = x.to(torch::kFloat32);
  const torch::Tensor normed = x32 * torch::rsqrt(x32.pow(2).mean(-1, true) + eps);
  return weight * normed.to(x.scalar_type());
}

LlamaAttentionImpl::LlamaAttentionImpl(const LlamaConfig& c)
    : heads(c.num_attention_heads), kv_heads(c.num_key_value_heads), head_dim(c.head_dim()) {
  q_proj = register_module("q_proj", Projection(c.hidden_size, heads * head_dim));
  k_proj = register_module("k_proj", Projection(c.hidden_size, kv_heads * head_dim));
  v_proj = register_module("v_proj", Projection(c.hidden_size, kv_heads * head_dim));
  o_proj = register_module("o_proj", Projection(heads * head_dim, c.hidden_size));
}

torch::Tensor LlamaAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                          const torch::Tensor& sin, torch::Tensor* cache_k,
                                          torch::Tensor* cache_v, std::int64_t start) {
  const auto b = x.size(0), t = x.size(1);
  torch::Tensor q = q_proj(x).view({b, t, heads, head_dim}).transpose(1, 2);
  torch::Tensor k = k_proj(x).view({b, t, kv_heads, head_dim}).transpose(1, 2);
  torch::Tensor v = v_proj(x).view({b, t, kv_heads, head_dim}).transpose(1, 2);
  const torch::Tensor c = cos.to(q.scalar_type()), s = sin.to(q.scalar_type());
  q = q * c + RotateHalf(q) * s;
  k = k * c + RotateHalf(k) * s;
  std::int64_t total = t;
  if (cache_k != nullptr) {
    cache_k->narrow(2, start, t).copy_(k);
    cache_v->narrow(2, start, t).copy_(v);
    total = start + t;
    k = cache_k->narrow(2, 0, total);
    v = cache_v->narrow(2, 0, total);
  }
  const std::int64_t groups = heads / kv_heads;
  k = RepeatKv(k, groups);
  v = RepeatKv(v, groups);
  torch::Tensor scores =
      torch::matmul(q, k.transpose(2, 3)) / std::sqrt(static_cast<double>(head_dim));
  if (t > 1) {
    // Query i (at position start + i) sees keys 0 … start + i.
    const torch::Tensor mask =
        torch::ones({t, total}, torch::TensorOptions().dtype(torch::kBool).device(x.device()))
            .triu(total - t + 1);
    scores = scores.masked_fill(mask, -std::numeric_limits<float>::infinity());
  }
  // Softmax in fp32, as Hugging Face does.
  const torch::Tensor probs = torch::softmax(scores.to(torch::kFloat32), -1).to(q.scalar_type());
  const torch::Tensor out =
      torch::matmul(probs, v).transpose(1, 2).reshape({b, t, heads * head_dim});
  return o_proj(out);
}

LlamaMlpImpl::LlamaMlpImpl(const LlamaConfig& c) {
  gate_proj = register_module("gate_proj", Projection(c.hidden_size, c.intermediate_size));
  up_proj = register_module("up_proj", Projection(c.hidden_size, c.intermediate_size));
  down_proj = register_module("down_proj", Projection(c.intermediate_size, c.hidden_size));
}

torch::Tensor LlamaMlpImpl::forward(const torch::Tensor& x) {
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const LlamaConfig& c) {
  input_layernorm = register_module("input_layernorm", RmsNorm(c.hidden_size, c.rms_norm_eps));
  self_attn = register_module("self_attn", LlamaAttention(c));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RmsNorm(c.hidden_size, c.rms_norm_eps));
  mlp = register_module("mlp", LlamaMlp(c));
}

torch::Tensor LlamaDecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                             const torch::Tensor& sin, torch::Tensor* cache_k,
                                             torch::Tensor* cache_v, std::int64_t start) {
  const torch::Tensor h = x + self_attn(input_layernorm(x), cos, sin, cache_k, cache_v, start);
  return h + mlp(post_attention_layernorm(h));
}

LlamaBodyImpl::LlamaBodyImpl(const LlamaConfig& c) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(LlamaDecoderLayer(c));
  norm = register_module("norm", RmsNorm(c.hidden_size, c.rms_norm_eps));
}

LlamaForCausalLmImpl::LlamaForCausalLmImpl(const LlamaConfig& config) : config_(config) {
  config_.Validate("model configuration");
  model = register_module("model", LlamaBody(config_));
  if (!config_.tie_word_embeddings) {
    lm_head = register_module(
        "lm_head",
        torch::nn::Linear(
            torch::nn::LinearOptions(config_.hidden_size, config_.vocab_size).bias(false)));
  }
  const auto d = config_.head_dim();
  inv_freq_ = 1.0 / torch::pow(config_.rope_theta,
                               torch::arange(0, d, 2, torch::kFloat64) / static_cast<double>(d));
  inv_freq_ = inv_freq_.to(torch::kFloat32);
}

std::pair<torch::Tensor, torch::Tensor> LlamaForCausalLmImpl::Rope(
    std::int64_t start, std::int64_t length, const torch::Device& device) const {
  const torch::Tensor positions =
      torch::arange(start, start + length, torch::TensorOptions().dtype(torch::kFloat32));
  const torch::Tensor freqs = torch::outer(positions, inv_freq_);
  const torch::Tensor emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos().to(device), emb.sin().to(device)};
}

torch::Tensor LlamaForCausalLmImpl::Run(const torch::Tensor& tokens, KvCache* cache) {
  const std::int64_t start = cache != nullptr ? cache->length : 0;
  const std::int64_t t = tokens.size(1);
  if (start + t > config_.max_position_embeddings && cache == nullptr) {
    throw UsageError(
        fmt::format("a sequence of {} tokens is longer than the model's "
                    "max_position_embeddings {}",
                    start + t, config_.max_position_embeddings));
  }
  if (cache != nullptr && start + t > cache->keys.front().size(2)) {
    throw UsageError(fmt::format("the KV cache holds {} positions; {} + {} tokens do not fit",
                                 cache->keys.front().size(2), start, t));
  }
  const auto [cos, sin] = Rope(start, t, tokens.device());
  torch::Tensor h = model->embed_tokens(tokens);
  for (std::size_t i = 0; i < model->layers->size(); ++i) {
    auto layer = model->layers->ptr<LlamaDecoderLayerImpl>(i);
    h = layer->forward(h, cos, sin, cache ? &cache->keys[i] : nullptr,
                       cache ? &cache->values[i] : nullptr, start);
  }
  h = model->norm(h);
  if (cache != nullptr) cache->length += t;
  const torch::Tensor logits = config_.tie_word_embeddings
                                   ? torch::nn::functional::linear(h, model->embed_tokens->weight)
                                   : lm_head(h);
  return logits.to(torch::kFloat32);
}

torch::Tensor LlamaForCausalLmImpl::forward(const torch::Tensor& tokens) {
  return Run(tokens, nullptr);
}

torch::Tensor LlamaForCausalLmImpl::forward(const torch::Tensor& tokens, KvCache& cache) {
  return Run(tokens, &cache);
}

KvCache LlamaForCausalLmImpl::NewCache(std::int64_t batch, std::int64_t max_length) const {
  KvCache cache;
  const torch::Tensor& w = model->embed_tokens->weight;
  const auto options = torch::TensorOptions().dtype(w.dtype()).device(w.device());
  for (std::int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    cache.keys.push_back(torch::zeros(
        {batch, config_.num_key_value_heads, max_length, config_.head_dim()}, options));
    cache.values.push_back(torch::zeros_like(cache.keys.back()));
  }
  return cache;
}

void LlamaForCausalLmImpl::AddAdapters(const LoraOptions& options) {
  options.Validate("LoRA options");
  for (auto& p : parameters()) p.set_requires_grad(false);
  for (const auto& layer_module : *model->layers) {
    auto* layer = layer_module->as<LlamaDecoderLayerImpl>();
    for (const auto& target : options.targets) {
      Projection proj = target == "q_proj"      ? layer->self_attn->q_proj
                        : target == "k_proj"    ? layer->self_attn->k_proj
                        : target == "v_proj"    ? layer->self_attn->v_proj
                        : target == "o_proj"    ? layer->self_attn->o_proj
                        : target == "gate_proj" ? layer->mlp->gate_proj
                        : target == "up_proj"   ? layer->mlp->up_proj
                                                : layer->mlp->down_proj;
      proj->AddAdapter(options);
    }
  }
  lora = options;
}

void LlamaForCausalLmImpl::MergeAdapters() {
  for (const auto& layer_module : *model->layers) {
    auto* layer = layer_module->as<LlamaDecoderLayerImpl>();
    for (Projection proj : {layer->self_attn->q_proj, layer->self_attn->k_proj,
                            layer->self_attn->v_proj, layer->self_attn->o_proj,
                            layer->mlp->gate_proj, layer->mlp->up_proj, layer->mlp->down_proj}) {
      proj->MergeAdapter();
    }
  }
  lora.reset();
}

std::vector<std::pair<std::string, torch::Tensor>> LlamaForCausalLmImpl::AdapterParameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : named_parameters(true)) {
    if (item.key().find(".lora_") != std::string::npos) out.emplace_back(item.key(), item.value());
  }
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> LlamaForCausalLmImpl::BaseParameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : named_parameters(true)) {
    if (item.key().find(".lora_") == std::string::npos) out.emplace_back(item.key(), item.value());
  }
  return out;
}

void LlamaForCausalLmImpl::InitWeights(std::uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  // Name order, so that the draw does not depend on registration order.
  auto named = BaseParameters();
  std::sort(named.begin(), named.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [name, p] : named) {
    if (name.ends_with("norm.weight")) {
      p.fill_(1.0);
    } else {
      p.normal_(0.0, 0.02);
    }
  }
}

double ForwardFlopsPerToken(const LlamaConfig& c, std::int64_t context) {
  // Every weight a token is multiplied with: the layers' projections and the output head (tied or
  // not); the embedding lookup and the norms are not matmuls.
  const std::int64_t kv = c.num_key_value_heads * c.head_dim();
  const double per_layer =
      static_cast<double>(2 * c.hidden_size * c.hidden_size + 2 * c.hidden_size * kv +
                          3 * c.hidden_size * c.intermediate_size);
  const double matmul_params = static_cast<double>(c.num_hidden_layers) * per_layer +
                               static_cast<double>(c.vocab_size * c.hidden_size);
  const double attention = 4.0 * static_cast<double>(c.num_hidden_layers) *
                           static_cast<double>(c.hidden_size) * static_cast<double>(context);
  return 2.0 * matmul_params + attention;
}

double LoraTrainFlopsPerToken(const LlamaConfig& c, const LoraOptions& lora, std::int64_t seq_len) {
  const double forward_base = ForwardFlopsPerToken(c, seq_len);
  const double attention = 4.0 * static_cast<double>(c.num_hidden_layers) *
                           static_cast<double>(c.hidden_size) * static_cast<double>(seq_len);
  const double matmuls = forward_base - attention;
  const double adapter_params = static_cast<double>(AdapterParameterCount(c, lora));
  // Forward: matmuls + attention; backward: activation gradients of the matmuls (= forward) and
  // of attention (twice forward); adapters: forward, both gradients.
  return 2.0 * matmuls + 3.0 * attention + 6.0 * adapter_params;
}

}  // namespace fwbench::models
