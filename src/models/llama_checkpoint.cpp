#include "models/llama_checkpoint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include "core/atomic_file.h"
#include "core/bounded_json.h"
#include "core/error.h"
#include "data/safetensors.h"
#include "models/weights.h"

namespace fwbench::models {

namespace {

namespace fs = std::filesystem;
namespace st = fwbench::safetensors;

constexpr const char* kPeftPrefix = "base_model.model.";

nlohmann::json ReadJson(const fs::path& path, const char* what) {
  std::ifstream in(path);
  if (!in) {
    throw UsageError(fmt::format("{} '{}' is missing or unreadable", what, path.string()));
  }
  try {
    return ParseBoundedJson(
        std::string{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()});
  } catch (const std::exception& e) {  // nlohmann's parse_error, or nesting past the bound
    throw UsageError(fmt::format("{} '{}' is not valid JSON: {}", what, path.string(), e.what()));
  }
}

template <typename T>
T Field(const nlohmann::json& j, const char* key, const fs::path& path, std::optional<T> fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (fallback) return *fallback;
    throw UsageError(fmt::format("'{}': field \"{}\" is missing", path.string(), key));
  }
  if constexpr (std::is_same_v<T, bool>) {
    if (!it->is_boolean()) {
      throw UsageError(fmt::format("'{}': \"{}\" must be true or false", path.string(), key));
    }
  } else if constexpr (std::is_integral_v<T>) {
    if (!it->is_number_integer()) {
      throw UsageError(fmt::format("'{}': \"{}\" must be an integer", path.string(), key));
    }
  } else {
    if (!it->is_number()) {
      throw UsageError(fmt::format("'{}': \"{}\" must be a number", path.string(), key));
    }
  }
  return it->get<T>();
}

std::string Shape(c10::IntArrayRef shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// Names a checkpoint may hold that are not parameters of the model (older transformers saved
// the rotary inverse frequencies).
bool Ignorable(const std::string& name) { return name.ends_with("rotary_emb.inv_freq"); }

using Sources = std::map<std::string, std::pair<const st::File*, const st::TensorInfo*>>;
using Shapes = std::vector<std::pair<std::string, std::vector<std::int64_t>>>;

// Checks `sources` (name → file tensor) against the expected floating-point tensors: names,
// shapes, dtypes; every problem at once, naming `what`.
void Check(const Shapes& targets, const Sources& sources, const std::string& what) {
  std::vector<std::string> problems;
  std::vector<std::string> missing;
  for (const auto& [name, shape] : targets) {
    const auto it = sources.find(name);
    if (it == sources.end()) {
      missing.push_back(name);
      continue;
    }
    const auto& [file, info] = it->second;
    if (shape != info->shape) {
      problems.push_back(
          fmt::format("tensor '{}' in '{}' has shape {}, the configuration implies {}", name,
                      file->path().string(), Shape(info->shape), Shape(shape)));
    } else if (!CanCopy(info->dtype, torch::kFloat32)) {
      problems.push_back(
          fmt::format("tensor '{}' in '{}' has dtype {}, which does not convert to "
                      "the model's floating point",
                      name, file->path().string(), st::DTypeName(info->dtype)));
    }
  }
  if (!missing.empty()) {
    const std::size_t shown = std::min<std::size_t>(missing.size(), 10);
    problems.insert(problems.begin(),
                    fmt::format("{} tensor(s) the model needs are in no file: {}{}", missing.size(),
                                fmt::join(missing.begin(), missing.begin() + shown, ", "),
                                missing.size() > shown ? ", …" : ""));
  }
  std::set<std::string> wanted;
  for (const auto& [name, _] : targets) wanted.insert(name);
  std::vector<std::string> unexpected;
  for (const auto& [name, _] : sources) {
    if (!wanted.contains(name) && !Ignorable(name)) unexpected.push_back(name);
  }
  if (!unexpected.empty()) {
    const std::size_t shown = std::min<std::size_t>(unexpected.size(), 10);
    problems.push_back(fmt::format("{} tensor(s) the model does not have: {}{}", unexpected.size(),
                                   fmt::join(unexpected.begin(), unexpected.begin() + shown, ", "),
                                   unexpected.size() > shown ? ", …" : ""));
  }
  if (!problems.empty()) {
    throw UsageError(
        fmt::format("{} does not match the model: {}", what, fmt::join(problems, "; ")));
  }
}

// Checks, then copies every target from its file.
void CheckAndCopy(const std::vector<std::pair<std::string, torch::Tensor>>& targets,
                  const Sources& sources, const std::string& what) {
  Shapes shapes;
  for (const auto& [name, t] : targets) shapes.emplace_back(name, t.sizes().vec());
  Check(shapes, sources, what);
  for (const auto& [name, tensor] : targets) {
    const auto& [file, info] = sources.at(name);
    torch::Tensor t = tensor;
    CopyFromFile(*file, *info, t);
  }
}

// Opens every file of the checkpoint (each validated) and maps tensor names to them, before
// anything is copied.
Sources OpenCheckpoint(const fs::path& dir, std::map<std::string, st::File>& files) {
  Sources sources;
  const fs::path index_path = dir / "model.safetensors.index.json";
  if (fs::exists(index_path)) {
    const nlohmann::json index = ReadJson(index_path, "checkpoint index");
    const auto map = index.find("weight_map");
    if (map == index.end() || !map->is_object()) {
      throw UsageError(fmt::format("'{}' has no \"weight_map\" object (tensor name → shard file)",
                                   index_path.string()));
    }
    for (const auto& [name, file] : map->items()) {
      if (!file.is_string()) {
        throw UsageError(
            fmt::format("'{}': weight_map[\"{}\"] must be a file name", index_path.string(), name));
      }
      const std::string shard = file.get<std::string>();
      if (!files.contains(shard)) {
        if (!fs::exists(dir / shard)) {
          throw UsageError(fmt::format(
              "checkpoint '{}': shard '{}' (holding '{}' per model.safetensors.index.json) is "
              "missing; copy the whole checkpoint folder",
              dir.string(), shard, name));
        }
        files.emplace(shard, st::File::Read(dir / shard));
      }
      const st::File& f = files.at(shard);
      const st::TensorInfo* info = f.Find(name);
      if (info == nullptr) {
        throw UsageError(fmt::format(
            "checkpoint '{}': model.safetensors.index.json puts '{}' in '{}', which does not "
            "hold it",
            dir.string(), name, shard));
      }
      sources[name] = {&f, info};
    }
  } else if (fs::exists(dir / "model.safetensors")) {
    const auto& f =
        files.emplace("model.safetensors", st::File::Read(dir / "model.safetensors")).first->second;
    for (const auto& info : f.tensors()) sources[info.name] = {&f, &info};
  } else {
    throw UsageError(fmt::format(
        "checkpoint '{}' has neither model.safetensors nor model.safetensors.index.json "
        "(PyTorch .bin checkpoints are not read: convert them with save_pretrained(..., "
        "safe_serialization=True))",
        dir.string()));
  }
  return sources;
}

void WriteAdapterConfig(const LoraOptions& l, const fs::path& dir,
                        const std::string& base_model_name_or_path) {
  const nlohmann::json config = {{"peft_type", "LORA"},
                                 {"task_type", "CAUSAL_LM"},
                                 {"base_model_name_or_path", base_model_name_or_path},
                                 {"r", l.rank},
                                 {"lora_alpha", l.alpha},
                                 {"lora_dropout", l.dropout},
                                 {"target_modules", l.targets},
                                 {"bias", "none"},
                                 {"fan_in_fan_out", false},
                                 {"inference_mode", true},
                                 {"init_lora_weights", true},
                                 {"modules_to_save", nullptr}};
  WriteFileAtomically(dir / "adapter_config.json", config.dump(2) + "\n");
}

}  // namespace

LlamaConfig ReadLlamaConfig(const fs::path& path) {
  const nlohmann::json j = ReadJson(path, "model configuration");
  if (!j.is_object()) {
    throw UsageError(fmt::format("'{}' must hold a JSON object", path.string()));
  }
  std::vector<std::string> architectures;
  if (const auto it = j.find("architectures"); it != j.end() && it->is_array()) {
    for (const auto& a : *it) {
      if (a.is_string()) architectures.push_back(a.get<std::string>());
    }
  }
  const std::string model_type = j.value("model_type", std::string());
  const bool llama = model_type == "llama" || std::find(architectures.begin(), architectures.end(),
                                                        "LlamaForCausalLM") != architectures.end();
  if (!llama) {
    throw UsageError(fmt::format(
        "'{}': architecture {} (model_type \"{}\") is not supported; fwbench runs the Llama "
        "family (LlamaForCausalLM, model_type \"llama\": Llama 2, TinyLlama, …)",
        path.string(),
        architectures.empty() ? "(none given)" : fmt::format("{}", fmt::join(architectures, ", ")),
        model_type));
  }
  if (const auto it = j.find("hidden_act"); it != j.end() && *it != "silu") {
    throw UsageError(fmt::format("'{}': hidden_act {} is not supported (Llama uses \"silu\")",
                                 path.string(), it->dump()));
  }
  if (const auto it = j.find("rope_scaling"); it != j.end() && !it->is_null()) {
    throw UsageError(fmt::format(
        "'{}': rope_scaling {} is not supported (fwbench implements plain rotary embeddings)",
        path.string(), it->dump()));
  }
  for (const char* bias : {"attention_bias", "mlp_bias"}) {
    if (const auto it = j.find(bias); it != j.end() && *it == true) {
      throw UsageError(
          fmt::format("'{}': {} = true is not supported (Llama projections have no "
                      "bias)",
                      path.string(), bias));
    }
  }
  LlamaConfig c;
  c.vocab_size = Field<std::int64_t>(j, "vocab_size", path, std::nullopt);
  c.hidden_size = Field<std::int64_t>(j, "hidden_size", path, std::nullopt);
  c.intermediate_size = Field<std::int64_t>(j, "intermediate_size", path, std::nullopt);
  c.num_hidden_layers = Field<std::int64_t>(j, "num_hidden_layers", path, std::nullopt);
  c.num_attention_heads = Field<std::int64_t>(j, "num_attention_heads", path, std::nullopt);
  c.num_key_value_heads =
      Field<std::int64_t>(j, "num_key_value_heads", path, c.num_attention_heads);
  c.max_position_embeddings =
      Field<std::int64_t>(j, "max_position_embeddings", path, std::int64_t{2048});
  // transformers' LlamaConfig defaults.
  c.rms_norm_eps = Field<double>(j, "rms_norm_eps", path, 1e-6);
  c.rope_theta = Field<double>(j, "rope_theta", path, 10000.0);
  c.tie_word_embeddings = Field<bool>(j, "tie_word_embeddings", path, false);
  c.Validate(fmt::format("'{}'", path.string()));
  return c;
}

nlohmann::json ToHfConfigJson(const LlamaConfig& c) {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_act", "silu"},
          {"vocab_size", c.vocab_size},
          {"hidden_size", c.hidden_size},
          {"intermediate_size", c.intermediate_size},
          {"num_hidden_layers", c.num_hidden_layers},
          {"num_attention_heads", c.num_attention_heads},
          {"num_key_value_heads", c.num_key_value_heads},
          {"max_position_embeddings", c.max_position_embeddings},
          {"rms_norm_eps", c.rms_norm_eps},
          {"rope_theta", c.rope_theta},
          {"rope_scaling", nullptr},
          {"tie_word_embeddings", c.tie_word_embeddings},
          {"attention_bias", false},
          {"torch_dtype", "float32"}};
}

bool IsCheckpointFolder(const fs::path& dir) {
  return fs::is_directory(dir) && fs::exists(dir / "config.json");
}

void SaveLlamaCheckpoint(const LlamaForCausalLm& model, const fs::path& dir,
                         std::int64_t max_shard_bytes) {
  fs::create_directories(dir);
  WriteFileAtomically(dir / "config.json", ToHfConfigJson(model->config()).dump(2) + "\n");
  auto named = model->BaseParameters();
  std::sort(named.begin(), named.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  // Greedy shards in name order, each under max_shard_bytes (a lone bigger tensor gets its own).
  std::vector<std::vector<std::pair<std::string, torch::Tensor>>> shards(1);
  std::int64_t size = 0;
  for (const auto& item : named) {
    const auto bytes = static_cast<std::int64_t>(item.second.nbytes());
    if (!shards.back().empty() && size + bytes > max_shard_bytes) {
      shards.emplace_back();
      size = 0;
    }
    shards.back().push_back(item);
    size += bytes;
  }
  const std::map<std::string, std::string> metadata = {{"format", "pt"}};
  if (shards.size() == 1) {
    SaveTensors(shards.front(), dir / "model.safetensors", metadata);
    return;
  }
  nlohmann::json weight_map = nlohmann::json::object();
  std::int64_t total = 0;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const std::string file =
        fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, shards.size());
    SaveTensors(shards[i], dir / file, metadata);
    for (const auto& [name, t] : shards[i]) {
      weight_map[name] = file;
      total += static_cast<std::int64_t>(t.nbytes());
    }
  }
  const nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  WriteFileAtomically(dir / "model.safetensors.index.json", index.dump(2) + "\n");
}

void LoadLlamaCheckpoint(LlamaForCausalLm& model, const fs::path& dir) {
  std::map<std::string, st::File> files;
  const Sources sources = OpenCheckpoint(dir, files);
  CheckAndCopy(model->BaseParameters(), sources, fmt::format("checkpoint '{}'", dir.string()));
}

LlamaConfig CheckLlamaCheckpoint(const fs::path& dir) {
  const LlamaConfig config = ReadLlamaConfig(dir / "config.json");
  std::map<std::string, st::File> files;
  const Sources sources = OpenCheckpoint(dir, files);
  Check(ExpectedParameterShapes(config), sources, fmt::format("checkpoint '{}'", dir.string()));
  return config;
}

void SavePeftAdapter(const LlamaForCausalLm& model, const fs::path& dir,
                     const std::string& base_model_name_or_path) {
  if (!model->lora) throw std::logic_error("SavePeftAdapter: the model has no adapters");
  fs::create_directories(dir);
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& [name, t] : model->AdapterParameters())
    named.emplace_back(kPeftPrefix + name, t);
  SaveTensors(named, dir / "adapter_model.safetensors", {{"format", "pt"}});
  WriteAdapterConfig(*model->lora, dir, base_model_name_or_path);
}

void WriteInitialPeftAdapter(const LlamaConfig& config, const LoraOptions& lora, std::uint64_t seed,
                             const fs::path& dir, const std::string& base_model_name_or_path) {
  lora.Validate("LoRA options");
  fs::create_directories(dir);
  torch::manual_seed(seed);
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const AdaptedProjection& p : AdaptedProjections(config, lora)) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(p.in));
    named.emplace_back(kPeftPrefix + p.module + ".lora_A.weight",
                       torch::empty({lora.rank, p.in}).uniform_(-bound, bound));
    named.emplace_back(kPeftPrefix + p.module + ".lora_B.weight", torch::zeros({p.out, lora.rank}));
  }
  SaveTensors(named, dir / "adapter_model.safetensors", {{"format", "pt"}});
  WriteAdapterConfig(lora, dir, base_model_name_or_path);
}

void LoadPeftAdapter(LlamaForCausalLm& model, const fs::path& dir) {
  if (!model->lora) throw std::logic_error("LoadPeftAdapter: the model has no adapters");
  const st::File file = st::File::Read(dir / "adapter_model.safetensors");
  Sources sources;
  for (const auto& info : file.tensors()) {
    std::string name = info.name;
    if (name.starts_with(kPeftPrefix)) name = name.substr(std::string_view(kPeftPrefix).size());
    sources[name] = {&file, &info};
  }
  CheckAndCopy(model->AdapterParameters(), sources,
               fmt::format("adapter '{}'", (dir / "adapter_model.safetensors").string()));
}

LoraOptions ReadAdapterConfig(const fs::path& dir) {
  const fs::path path = dir / "adapter_config.json";
  const nlohmann::json j = ReadJson(path, "adapter configuration");
  if (!j.is_object() || j.value("peft_type", std::string("LORA")) != "LORA") {
    throw UsageError(fmt::format(
        "'{}' is not a LoRA adapter configuration (peft_type must be LORA)", path.string()));
  }
  // PEFT options that change the function; every port computes plain LoRA, so an adapter that
  // sets one is refused rather than run with the wrong scaling everywhere alike.
  for (const auto& [key, plain] : {std::pair<const char*, nlohmann::json>{"use_rslora", false},
                                   {"use_dora", false},
                                   {"fan_in_fan_out", false},
                                   {"bias", "none"},
                                   {"alpha_pattern", nlohmann::json::object()},
                                   {"rank_pattern", nlohmann::json::object()}}) {
    const auto it = j.find(key);
    if (it != j.end() && !it->is_null() && *it != plain) {
      throw UsageError(fmt::format(
          "'{}': \"{}\" is {}; fwbench runs plain LoRA (y = x Wᵀ + alpha/r · B A x), which needs "
          "{}: train the adapter without it",
          path.string(), key, it->dump(), plain.dump()));
    }
  }
  LoraOptions o;
  o.rank = Field<std::int64_t>(j, "r", path, std::nullopt);
  o.alpha = Field<double>(j, "lora_alpha", path, std::nullopt);
  o.dropout = Field<double>(j, "lora_dropout", path, 0.0);
  const auto targets = j.find("target_modules");
  if (targets == j.end() || !targets->is_array()) {
    throw UsageError(
        fmt::format("'{}': \"target_modules\" must be a list of projection names", path.string()));
  }
  o.targets.clear();
  for (const auto& t : *targets) {
    if (!t.is_string()) {
      throw UsageError(fmt::format("'{}': \"target_modules\" must hold strings", path.string()));
    }
    o.targets.push_back(t.get<std::string>());
  }
  o.Validate(fmt::format("'{}'", path.string()));
  return o;
}

LoraOptions CheckPeftAdapter(const LlamaConfig& config, const fs::path& dir) {
  const LoraOptions lora = ReadAdapterConfig(dir);
  const fs::path path = dir / "adapter_model.safetensors";
  if (!fs::is_regular_file(path)) {
    throw UsageError(
        fmt::format("adapter folder '{}' has no adapter_model.safetensors (PEFT's "
                    "save_pretrained writes it next to adapter_config.json)",
                    dir.string()));
  }
  const st::File file = st::File::Read(path);
  Sources sources;
  for (const auto& info : file.tensors()) {
    std::string name = info.name;
    if (name.starts_with(kPeftPrefix)) name = name.substr(std::string_view(kPeftPrefix).size());
    sources[name] = {&file, &info};
  }
  Shapes shapes;
  for (const AdaptedProjection& p : AdaptedProjections(config, lora)) {
    shapes.emplace_back(p.module + ".lora_A.weight", std::vector<std::int64_t>{lora.rank, p.in});
    shapes.emplace_back(p.module + ".lora_B.weight", std::vector<std::int64_t>{p.out, lora.rank});
  }
  Check(shapes, sources, fmt::format("adapter '{}'", path.string()));
  return lora;
}

void MergeAdapterIntoCheckpoint(const fs::path& base, const fs::path& adapter,
                                const fs::path& out) {
  LlamaForCausalLm model(ReadLlamaConfig(base / "config.json"));
  LoadLlamaCheckpoint(model, base);
  model->AddAdapters(ReadAdapterConfig(adapter));
  LoadPeftAdapter(model, adapter);
  model->MergeAdapters();
  SaveLlamaCheckpoint(model, out);
}

}  // namespace fwbench::models
