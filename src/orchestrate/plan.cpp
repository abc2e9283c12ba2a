#include "orchestrate/plan.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <toml++/toml.h>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/toml_depth.h"
#include "orchestrate/builtin_workers.h"

namespace fwbench {

namespace {

[[noreturn]] void BadValue(const std::string& where, const std::string& text,
                           const char* expected) {
  throw UsageError(fmt::format("{}: expected {}, got '{}'", where, expected, text));
}

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    const auto b = part.find_first_not_of(" \t");
    const auto e = part.find_last_not_of(" \t");
    if (b != std::string::npos) parts.push_back(part.substr(b, e - b + 1));
  }
  return parts;
}

template <typename T>
struct Codec;

template <>
struct Codec<std::string> {
  static constexpr const char* kType = "string";
  static std::string Parse(const std::string& t, const std::string&) { return t; }
  static std::string Format(const std::string& v) { return v; }
};
template <>
struct Codec<std::filesystem::path> {
  static constexpr const char* kType = "string";
  static std::filesystem::path Parse(const std::string& t, const std::string&) { return t; }
  static std::string Format(const std::filesystem::path& v) { return v.string(); }
};

template <typename Int>
Int ParseInteger(const std::string& t, const std::string& where) {
  Int v{};
  const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || ptr != t.data() + t.size()) BadValue(where, t, "an integer");
  return v;
}

template <>
struct Codec<int> {
  static constexpr const char* kType = "integer";
  static int Parse(const std::string& t, const std::string& w) { return ParseInteger<int>(t, w); }
  static std::string Format(int v) { return std::to_string(v); }
};
template <>
struct Codec<std::int64_t> {
  static constexpr const char* kType = "integer";
  static std::int64_t Parse(const std::string& t, const std::string& w) {
    return ParseInteger<std::int64_t>(t, w);
  }
  static std::string Format(std::int64_t v) { return std::to_string(v); }
};
template <>
struct Codec<std::uint64_t> {
  static constexpr const char* kType = "integer";
  static std::uint64_t Parse(const std::string& t, const std::string& w) {
    return ParseInteger<std::uint64_t>(t, w);
  }
  static std::string Format(std::uint64_t v) { return std::to_string(v); }
};
template <>
struct Codec<double> {
  static constexpr const char* kType = "number";
  static double Parse(const std::string& t, const std::string& w) {
    try {
      std::size_t used = 0;
      const double v = std::stod(t, &used);
      if (used == t.size()) return v;
    } catch (const std::exception&) {
    }
    BadValue(w, t, "a number");
  }
  static std::string Format(double v) { return fmt::format("{}", v); }
};
template <>
struct Codec<bool> {
  static constexpr const char* kType = "boolean";
  static bool Parse(const std::string& t, const std::string& w) {
    if (t == "true" || t == "1" || t == "yes" || t == "on") return true;
    if (t == "false" || t == "0" || t == "no" || t == "off") return false;
    BadValue(w, t, "true or false");
  }
  static std::string Format(bool v) { return v ? "true" : "false"; }
};
template <>
struct Codec<std::vector<std::string>> {
  static constexpr const char* kType = "list of strings";
  static std::vector<std::string> Parse(const std::string& t, const std::string&) {
    return SplitCommas(t);
  }
  static std::string Format(const std::vector<std::string>& v) {
    return fmt::format("{}", fmt::join(v, ","));
  }
};
template <>
struct Codec<std::vector<std::int64_t>> {
  static constexpr const char* kType = "list of integers";
  static std::vector<std::int64_t> Parse(const std::string& t, const std::string& w) {
    std::vector<std::int64_t> out;
    for (const std::string& part : SplitCommas(t))
      out.push_back(ParseInteger<std::int64_t>(part, w));
    return out;
  }
  static std::string Format(const std::vector<std::int64_t>& v) {
    return fmt::format("{}", fmt::join(v, ","));
  }
};

template <typename T, typename Accessor>
PlanField Field(std::string key, std::string flag, std::string help, Accessor access) {
  PlanField f;
  f.key = std::move(key);
  f.flag = std::move(flag);
  f.help = std::move(help);
  f.type = Codec<T>::kType;
  f.set_from_text = [access](Plan& p, const std::string& text, const std::string& where) {
    access(p) = Codec<T>::Parse(text, where);
  };
  f.to_text = [access](const Plan& p) {
    Plan copy = p;
    return Codec<T>::Format(access(copy));
  };
  return f;
}

#define FWBENCH_FIELD(TYPE, KEY, FLAG, HELP, MEMBER) \
  Field<TYPE>(KEY, FLAG, HELP, [](Plan& p) -> TYPE& { return p.MEMBER; })

std::vector<PlanField> MakeFields() {
  return {
      FWBENCH_FIELD(std::string, "name", "--name", "Name of the plan (part of the run id)", name),
      FWBENCH_FIELD(std::uint64_t, "seed", "--seed", "Seed of weights, data and batch order", seed),
      FWBENCH_FIELD(std::string, "workload", "--workload",
                    "image_classification (ResNet on CIFAR-10), llm_lora (LoRA fine-tuning of a "
                    "Llama-family model; the llm.* fields) or user_model (your model file; "
                    "model.file sets it)",
                    workload),
      FWBENCH_FIELD(int, "trials", "--trials", "Trials (fresh processes) per configuration",
                    trials),
      FWBENCH_FIELD(int, "warmup_trials", "--warmup-trials",
                    "Unrecorded trials per configuration before the measured ones (a few steps "
                    "each), so that no measured trial reads its libraries and compilers from "
                    "disk while the others find them in the page cache; 0 measures that too",
                    warmup_trials),
      FWBENCH_FIELD(std::vector<std::int64_t>, "threads", "--threads",
                    "Compute threads per trial, comma-separated (one configuration each); 0 = "
                    "all usable cores; 1 by default, the count that repeats across processes",
                    threads),
      FWBENCH_FIELD(bool, "thread_hygiene", "--thread-hygiene",
                    "One compute pool of the configuration's threads per trial, the others "
                    "pinned to 1, read back and checked (docs/workers.md); false leaves the "
                    "libraries' defaults (for comparison only)",
                    thread_hygiene),
      FWBENCH_FIELD(std::string, "device", "--device", "cpu or cuda", device),
      FWBENCH_FIELD(
          std::vector<std::string>, "backends", "--backends",
          "Backends to compare, comma-separated, each NAME or NAME/MODE: auto (libtorch eager and "
          "compiled plus every built-in worker that runs here, see `fwbench doctor`), libtorch "
          "(eager), libtorch/compiled (TorchScript), libtorch/aoti (AOTInductor, inference), "
          "pytorch/eager|torchscript|compiled, onnxruntime-node, tfjs/wasm|cpu, "
          "tensorflow/eager|function|xla, keras3/tensorflow|torch|jax, jax/jit, onnxruntime, "
          "openvino, or a [workers.NAME]",
          backends),
      FWBENCH_FIELD(std::vector<std::string>, "precisions", "--precisions",
                    "Numeric precisions, comma-separated: fp32, bf16", precisions),
      FWBENCH_FIELD(std::vector<std::string>, "memory_formats", "--memory-formats",
                    "Tensor memory formats, comma-separated: contiguous, channels_last",
                    memory_formats),
      FWBENCH_FIELD(std::vector<std::string>, "tasks", "--tasks",
                    "Tasks: train, infer, train_ddp (data-parallel training over the ddp.* "
                    "process and host counts), input_pipeline (each framework's own input "
                    "pipeline over the pipeline.* settings; --pipeline-only runs just that)",
                    tasks),
      FWBENCH_FIELD(std::vector<std::int64_t>, "pipeline.workers", "--pipeline-workers",
                    "input_pipeline: loader threads or processes, comma-separated (one "
                    "configuration each); 0 loads in the consuming thread",
                    pipeline.workers),
      FWBENCH_FIELD(std::vector<std::string>, "pipeline.model_steps", "--pipeline-model-steps",
                    "input_pipeline: what consumes the batches, comma-separated: none (the "
                    "pipeline alone), train (the training step)",
                    pipeline.model_steps),
      FWBENCH_FIELD(std::filesystem::path, "pipeline.images_dir", "--pipeline-images",
                    "input_pipeline: a folder DIR/<class>/<image>.png|.jpg of 32x32 images, "
                    "decoded by each framework's own decoders; empty: the CIFAR-10 files",
                    pipeline.images_dir),
      FWBENCH_FIELD(bool, "pipeline.cache", "--pipeline-cache",
                    "input_pipeline with images: also run tf.data with Dataset.cache() after "
                    "decoding",
                    pipeline.cache),
      FWBENCH_FIELD(std::int64_t, "pipeline.check_batches", "--pipeline-check-batches",
                    "input_pipeline: first batches compared bit for bit with fwbench's reference",
                    pipeline.check_batches),
      FWBENCH_FIELD(std::vector<std::int64_t>, "ddp.processes", "--ddp-processes",
                    "train_ddp: process counts, comma-separated (one configuration each); each "
                    "process trains train.batch_size samples a step with `threads` threads",
                    ddp_processes),
      FWBENCH_FIELD(std::vector<std::int64_t>, "ddp.hosts", "--ddp-hosts",
                    "train_ddp: host counts, comma-separated; 2 or more runs the processes in "
                    "that many network namespaces joined by a veth link (root, iproute2)",
                    ddp_hosts),
      FWBENCH_FIELD(double, "trial_timeout_s", "--trial-timeout-s",
                    "Time limit of one trial process in seconds", trial_timeout_s),
      FWBENCH_FIELD(std::filesystem::path, "out", "--out",
                    "Folder that receives the run's results folder", out_dir),
      FWBENCH_FIELD(double, "cv_warn", "--cv-warn",
                    "Coefficient of variation above which a result is flagged noisy", cv_warn),
      FWBENCH_FIELD(std::string, "model.arch", "--model",
                    "resnet18, resnet34, resnet50, resnet101, resnet152", arch),
      FWBENCH_FIELD(std::string, "model.stem", "--stem",
                    "cifar (3x3 conv) or imagenet (7x7 conv + max-pool)", stem),
      FWBENCH_FIELD(std::int64_t, "model.num_classes", "--num-classes", "Output classes",
                    num_classes),
      FWBENCH_FIELD(std::filesystem::path, "model.file", "--model-file",
                    "Your own model to benchmark instead of fwbench's ResNet (.onnx, .keras, "
                    "TorchScript .pt, torch.export .pt2, or a SavedModel folder): runs the "
                    "user_model workload on every runtime that loads it or a conversion of it "
                    "(docs/your-model.md)",
                    model_file),
      FWBENCH_FIELD(
          std::string, "model.py", "--model-py",
          "Your own PyTorch module instead of a file: MODULE:FACTORY (mypkg.models:build, "
          "a callable returning the torch.nn.Module), imported from the working "
          "directory or PYTHONPATH; describe its inputs with --input "
          "(docs/your-model.md)",
          model_py),
      FWBENCH_FIELD(std::vector<std::string>, "model.input_files", "--input-file",
                    "Your own input rows instead of generated ones: FILE.safetensors (a tensor "
                    "per input, rows first), FILE.npy (a model of one input) or NAME=FILE.npy; "
                    "they also set the inputs' shapes",
                    model_input_files),
      FWBENCH_FIELD(std::vector<std::string>, "model.inputs", "--input",
                    "Your model's inputs, NAME:DTYPE:DIMS[:LO-HI] with the batch dimension first "
                    "(pixels:FP32:Nx3x224x224, ids:INT64:Nx128:0-30522); needed where the model "
                    "leaves a dimension open",
                    model_inputs),
      FWBENCH_FIELD(std::filesystem::path, "model.weights", "--weights",
                    "Initial weights (.safetensors, torchvision names); empty = generated from the "
                    "seed",
                    weights),
      FWBENCH_FIELD(
          std::filesystem::path, "data.dir", "--data",
          "CIFAR-10 binary folder (data_batch_1..5.bin, test_batch.bin); empty = synthetic",
          data_dir),
      FWBENCH_FIELD(std::int64_t, "data.synthetic_train_per_file", "--synthetic-train-per-file",
                    "Synthetic records in each data_batch_N.bin", synthetic_train_per_file),
      FWBENCH_FIELD(std::int64_t, "data.synthetic_test", "--synthetic-test",
                    "Synthetic records in test_batch.bin", synthetic_test),
      FWBENCH_FIELD(bool, "data.augment", "--augment",
                    "Random crop (pad 4) + horizontal flip when training", augment),
      FWBENCH_FIELD(std::int64_t, "train.batch_size", "--train-batch-size", "Training batch size",
                    train_batch_size),
      FWBENCH_FIELD(std::int64_t, "train.min_steps", "--train-min-steps", "Training steps at least",
                    train_budget.min_steps),
      FWBENCH_FIELD(std::int64_t, "train.max_steps", "--train-max-steps",
                    "Training steps at most; 0 = no limit", train_budget.max_steps),
      FWBENCH_FIELD(double, "train.min_seconds", "--train-min-seconds",
                    "Seconds of training steps at least", train_budget.min_seconds),
      FWBENCH_FIELD(double, "train.max_seconds", "--train-max-seconds",
                    "Seconds of training steps at most", train_budget.max_seconds),
      FWBENCH_FIELD(std::string, "train.optimizer", "--optimizer", "sgd", optimizer.name),
      FWBENCH_FIELD(double, "train.lr", "--lr", "Learning rate", optimizer.lr),
      FWBENCH_FIELD(double, "train.momentum", "--momentum", "SGD momentum", optimizer.momentum),
      FWBENCH_FIELD(double, "train.weight_decay", "--weight-decay", "Weight decay",
                    optimizer.weight_decay),
      FWBENCH_FIELD(std::vector<std::int64_t>, "infer.batch_sizes", "--batch-sizes",
                    "Inference batch sizes, comma-separated", infer_batch_sizes),
      FWBENCH_FIELD(std::int64_t, "infer.min_steps", "--infer-min-steps",
                    "Inference steps at least", infer_budget.min_steps),
      FWBENCH_FIELD(std::int64_t, "infer.max_steps", "--infer-max-steps",
                    "Inference steps at most; 0 = no limit", infer_budget.max_steps),
      FWBENCH_FIELD(double, "infer.min_seconds", "--infer-min-seconds",
                    "Seconds of inference steps at least", infer_budget.min_seconds),
      FWBENCH_FIELD(double, "infer.max_seconds", "--infer-max-seconds",
                    "Seconds of inference steps at most", infer_budget.max_seconds),
      FWBENCH_FIELD(std::int64_t, "infer.parity_batch", "--parity-batch",
                    "Test images (LLM: prompts) whose logits each inference trial writes for the "
                    "parity check",
                    parity_batch),
      FWBENCH_FIELD(std::string, "llm.preset", "--llm-preset",
                    "LLM shape generated from the seed: tiny (~3M parameters), 125m, "
                    "tinyllama-1.1b",
                    llm.preset),
      FWBENCH_FIELD(std::filesystem::path, "llm.checkpoint", "--llm-checkpoint",
                    "Hugging Face Llama checkpoint folder (config.json, model.safetensors or "
                    "shards with model.safetensors.index.json) instead of a preset",
                    llm.checkpoint),
      FWBENCH_FIELD(std::filesystem::path, "llm.corpus", "--corpus",
                    "Text to fine-tune on: .txt (one document) or .jsonl (a \"text\" field per "
                    "line); empty = the synthetic corpus",
                    llm.corpus),
      FWBENCH_FIELD(std::string, "llm.tokenizer", "--tokenizer",
                    "auto (the checkpoint's tokenizer.model, else bytes), bytes, or the path of a "
                    "SentencePiece tokenizer.model",
                    llm.tokenizer),
      FWBENCH_FIELD(std::int64_t, "llm.seq_len", "--seq-len", "Tokens per training sequence",
                    llm.seq_len),
      FWBENCH_FIELD(std::int64_t, "llm.synthetic_documents", "--synthetic-documents",
                    "Documents in the synthetic corpus", llm.synthetic_documents),
      FWBENCH_FIELD(std::int64_t, "llm.lora_rank", "--lora-rank", "LoRA rank r", llm.lora_rank),
      FWBENCH_FIELD(double, "llm.lora_alpha", "--lora-alpha", "LoRA alpha (scaling = alpha / r)",
                    llm.lora_alpha),
      FWBENCH_FIELD(double, "llm.lora_dropout", "--lora-dropout",
                    "LoRA dropout; above 0 every framework draws its own masks, so the parity "
                    "gate will flag the difference",
                    llm.lora_dropout),
      FWBENCH_FIELD(std::vector<std::string>, "llm.lora_targets", "--lora-targets",
                    "Projections that get adapters, comma-separated: q_proj, k_proj, v_proj, "
                    "o_proj, gate_proj, up_proj, down_proj",
                    llm.lora_targets),
      FWBENCH_FIELD(std::filesystem::path, "llm.adapter", "--llm-adapter",
                    "PEFT adapter folder (adapter_config.json + adapter_model.safetensors, e.g. "
                    "trials/<id>/adapter of a training run) every backend starts from; empty = "
                    "fresh adapters drawn from the seed",
                    llm.adapter),
      FWBENCH_FIELD(double, "llm.lr", "--llm-lr", "AdamW learning rate of the adapters", llm.lr),
      FWBENCH_FIELD(double, "llm.weight_decay", "--llm-weight-decay",
                    "AdamW weight decay of the adapters", llm.weight_decay),
      FWBENCH_FIELD(std::int64_t, "llm.prompt_tokens", "--prompt-tokens",
                    "Inference: prompt tokens per sequence (prefill)", llm.prompt_tokens),
      FWBENCH_FIELD(std::int64_t, "llm.decode_tokens", "--decode-tokens",
                    "Inference: tokens generated per sequence (greedy, KV cache)",
                    llm.decode_tokens),
  };
}

#undef FWBENCH_FIELD

const PlanField* FindField(const std::string& key) {
  for (const PlanField& f : PlanFields()) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

std::string Where(const std::filesystem::path& path, const toml::node& node,
                  const std::string& key) {
  return fmt::format("{}:{}: {}", path.string(), node.source().begin.line, key);
}

// Converts a TOML value to the field's text form, checking its type first so that e.g.
// `trials = "3"` is reported as a type error.
std::string TomlToText(const toml::node& node, const PlanField& field, const std::string& where) {
  const auto wrong = [&]() -> std::string {
    throw UsageError(
        fmt::format("{}: expected {} ({}), got a TOML {}", where, field.type, field.help,
                    toml::impl::node_type_friendly_names[static_cast<int>(node.type())]));
  };
  if (field.type == "string") {
    if (!node.is_string()) wrong();
    return *node.value<std::string>();
  }
  if (field.type == "integer") {
    if (!node.is_integer()) wrong();
    return std::to_string(*node.value<std::int64_t>());
  }
  if (field.type == "number") {
    if (!node.is_number()) wrong();
    return fmt::format("{}", *node.value<double>());
  }
  if (field.type == "boolean") {
    if (!node.is_boolean()) wrong();
    return *node.value<bool>() ? "true" : "false";
  }
  const bool want_strings = field.type == "list of strings";
  const toml::array* array = node.as_array();
  // A single value stands for a list of one: `threads = 2` means `threads = [2]`.
  if (array == nullptr && want_strings && node.is_string()) return *node.value<std::string>();
  if (array == nullptr && !want_strings && node.is_integer())
    return std::to_string(*node.value<std::int64_t>());
  if (array == nullptr) wrong();
  std::vector<std::string> parts;
  for (const toml::node& item : *array) {
    if (want_strings ? !item.is_string() : !item.is_integer()) wrong();
    parts.push_back(want_strings ? *item.value<std::string>()
                                 : std::to_string(*item.value<std::int64_t>()));
  }
  return fmt::format("{}", fmt::join(parts, ","));
}

void ApplyWorkers(Plan& plan, const toml::table& workers, const std::filesystem::path& path) {
  for (const auto& [name, node] : workers) {
    const std::string where =
        fmt::format("{}:{}: workers.{}", path.string(), node.source().begin.line, name.str());
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      throw UsageError(
          fmt::format("{}: expected a table with command = [\"prog\", \"{{spec}}\"]", where));
    }
    if (const toml::node* python = table->get("python")) {
      if (table->size() != 1) {
        throw UsageError(fmt::format(
            "{}: a table with python = \"…\" names the interpreter of the built-in worker {} "
            "and has no other key (your own worker has command and mode instead)",
            where, name.str()));
      }
      const auto catalogue = BuiltinWorkerCatalogue();
      // A named copy: lambdas capturing structured bindings are C++20 that clang-tidy 14 rejects.
      const std::string worker(name.str());
      const auto builtin = std::find_if(catalogue.begin(), catalogue.end(),
                                        [&](const BuiltinBackend& b) { return b.name == worker; });
      if (builtin == catalogue.end() || !builtin->python) {
        std::vector<std::string> names;
        for (const BuiltinBackend& b : catalogue) {
          if (b.python) names.push_back(b.name);
        }
        throw UsageError(
            fmt::format("{}.python: {} is not a built-in Python worker (those are: {})", where,
                        name.str(), fmt::join(names, ", ")));
      }
      const std::optional<std::string> file = python->value<std::string>();
      if (!file || file->empty()) {
        throw UsageError(fmt::format(
            "{}.python: expected the path of a Python interpreter, as a string", where));
      }
      if (!IsExecutableFile(*file)) {
        throw UsageError(fmt::format(
            "{}.python: {} is not an executable file (expected e.g. /path/to/venv/bin/python)",
            where, *file));
      }
      plan.worker_pythons[std::string(name.str())] = *file;
      continue;
    }
    WorkerCommand worker;
    for (const auto& [key, value] : *table) {
      if (key == "command") {
        const toml::array* array = value.as_array();
        if (array == nullptr || array->empty()) {
          throw UsageError(fmt::format("{}.command: expected a non-empty list of strings", where));
        }
        for (const toml::node& item : *array) {
          if (!item.is_string()) {
            throw UsageError(fmt::format("{}.command: expected a list of strings", where));
          }
          worker.command.push_back(*item.value<std::string>());
        }
      } else if (key == "mode") {
        if (!value.is_string()) throw UsageError(fmt::format("{}.mode: expected a string", where));
        worker.mode = *value.value<std::string>();
      } else {
        throw UsageError(
            fmt::format("{}: unknown key \"{}\" (a worker has command and mode, "
                        "or python alone for a built-in worker's interpreter)",
                        where, key.str()));
      }
    }
    if (worker.command.empty()) {
      throw UsageError(fmt::format("{}: missing command = [\"prog\", \"{{spec}}\"]", where));
    }
    plan.workers[std::string(name.str())] = std::move(worker);
  }
}

void ApplyTable(Plan& plan, const toml::table& table, const std::string& prefix,
                const std::filesystem::path& path) {
  for (const auto& [name, node] : table) {
    const std::string key =
        prefix.empty() ? std::string(name.str()) : prefix + "." + std::string(name.str());
    if (key == "workers") {
      if (!node.is_table()) {
        throw UsageError(fmt::format("{}: expected [workers.NAME] tables", Where(path, node, key)));
      }
      ApplyWorkers(plan, *node.as_table(), path);
      continue;
    }
    if (const PlanField* field = FindField(key)) {
      const std::string where = Where(path, node, key);
      field->set_from_text(plan, TomlToText(node, *field, where), where);
      continue;
    }
    if (node.is_table() && prefix.empty()) {
      bool known_section = false;
      for (const PlanField& f : PlanFields()) {
        if (f.key.starts_with(key + ".")) known_section = true;
      }
      if (known_section) {
        ApplyTable(plan, *node.as_table(), key, path);
        continue;
      }
    }
    std::vector<std::string> known;
    for (const PlanField& f : PlanFields()) {
      const auto dot = f.key.rfind('.');
      const std::string section = dot == std::string::npos ? "" : f.key.substr(0, dot);
      if (section == prefix)
        known.push_back(dot == std::string::npos ? f.key : f.key.substr(dot + 1));
    }
    throw UsageError(
        fmt::format("{}: unknown plan key; known keys{}: {} (see examples/default.toml)",
                    Where(path, node, key), prefix.empty() ? "" : fmt::format(" in [{}]", prefix),
                    fmt::join(known, ", ")));
  }
}

std::string TomlQuote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

const std::vector<PlanField>& PlanFields() {
  static const std::vector<PlanField> fields = MakeFields();
  return fields;
}

void ApplyPlanFile(Plan& plan, const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw UsageError(fmt::format(
        "{}: plan file not found (give a TOML plan, e.g. examples/default.toml)", path.string()));
  }
  std::ifstream in(path, std::ios::binary);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (const auto line = TomlKeyTooDeepAt(text)) {
    throw UsageError(
        fmt::format("{}:{}: a key with more than {} dot-separated parts; a plan's "
                    "keys are at most two deep (e.g. train.lr)",
                    path.string(), *line, kMaxTomlKeyParts));
  }
  toml::table table;
  try {
    table = toml::parse(text, path.string());
  } catch (const toml::parse_error& e) {
    throw UsageError(fmt::format("{}:{}:{}: not valid TOML: {}", path.string(),
                                 e.source().begin.line, e.source().begin.column, e.description()));
  }
  ApplyTable(plan, table, "", path);
}

void ApplyQuick(Plan& plan) {
  plan.trials = 3;
  plan.warmup_trials = 0;  // tests check the results of trials, not the page cache
  plan.llm.seq_len = 64;
  plan.llm.synthetic_documents = 400;
  plan.llm.prompt_tokens = 32;
  plan.llm.decode_tokens = 16;
  plan.synthetic_train_per_file = 200;
  plan.synthetic_test = 200;
  plan.stem = "imagenet";
  plan.tasks = {"train", "infer"};  // small enough for both; tests rely on the training losses
  plan.train_batch_size = 16;
  // Exactly 20 steps: the parity gate compares the first 20 training losses, so no time limit
  // may cut a trial short of them on a slow or busy machine (trial_timeout_s still bounds it).
  plan.train_budget = {.min_steps = 20, .max_steps = 20, .min_seconds = 0.0, .max_seconds = 100.0};
  plan.infer_batch_sizes = {1, 8};
  plan.infer_budget = {.min_steps = 10, .max_steps = 50, .min_seconds = 0.2, .max_seconds = 10.0};
  plan.trial_timeout_s = 120.0;
}

void ValidatePlan(const Plan& p) {
  const auto fail = [](const std::string& key, const std::string& what) {
    throw UsageError(fmt::format("plan field {}: {}", key, what));
  };
  const auto finite_in = [&](const std::string& key, double v, double lo, double hi) {
    if (!std::isfinite(v) || v < lo || v > hi) {
      fail(key, fmt::format("must be a number between {} and {}, not {}", lo, hi, v));
    }
  };
  constexpr double kWeek = 7 * 24 * 3600.0;
  finite_in("trial_timeout_s", p.trial_timeout_s, 0.001, kWeek);
  finite_in("cv_warn", p.cv_warn, 0.0, 100.0);
  finite_in("train.lr", p.optimizer.lr, 0.0, 1e6);
  finite_in("train.momentum", p.optimizer.momentum, 0.0, 1.0);
  finite_in("train.weight_decay", p.optimizer.weight_decay, 0.0, 1e6);
  for (const auto& [section, b] :
       {std::pair{"train", p.train_budget}, std::pair{"infer", p.infer_budget}}) {
    finite_in(fmt::format("{}.min_seconds", section), b.min_seconds, 0.0, kWeek);
    finite_in(fmt::format("{}.max_seconds", section), b.max_seconds, 0.0, kWeek);
  }
  if (p.seed > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    fail("seed", "must be at most 9223372036854775807 (a TOML integer)");
  }
  const auto no_duplicates = [&](const std::string& key, auto values) {
    std::sort(values.begin(), values.end());
    if (std::adjacent_find(values.begin(), values.end()) != values.end()) {
      fail(key, "lists the same value twice; each configuration must be unique");
    }
  };
  no_duplicates("backends", p.backends);
  no_duplicates("tasks", p.tasks);
  no_duplicates("infer.batch_sizes", p.infer_batch_sizes);
  no_duplicates("threads", p.threads);
  no_duplicates("precisions", p.precisions);
  no_duplicates("memory_formats", p.memory_formats);
  for (const auto& [name, worker] : p.workers) {
    const bool has_spec =
        std::any_of(worker.command.begin(), worker.command.end(),
                    [](const std::string& a) { return a.find("{spec}") != std::string::npos; });
    if (!has_spec) {
      fail(fmt::format("workers.{}.command", name),
           "must contain {spec} where the trial spec path goes (docs/protocol.md)");
    }
  }
  if (p.workload != "image_classification" && p.workload != "llm_lora" &&
      p.workload != "user_model") {
    fail("workload",
         fmt::format("unknown workload '{}' (expected image_classification, llm_lora or "
                     "user_model)",
                     p.workload));
  }
  if (p.workload == "user_model") {
    if (p.model_file.empty()) {
      if (p.model_py.empty()) {
        fail("model.file",
             "is empty: workload user_model benchmarks a model file (--model-file) or a PyTorch "
             "module (--model-py)");
      }
    } else if (!p.model_py.empty()) {
      fail("model.py",
           fmt::format("and model.file ({}) are both set: name one model, a file or a module",
                       p.model_file.string()));
    }
    if (!p.model_py.empty()) {
      const auto colon = p.model_py.find(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == p.model_py.size() ||
          p.model_py.find_first_of(" /") != std::string::npos) {
        fail("model.py", fmt::format("'{}' is not MODULE:FACTORY (e.g. mypkg.models:build, a "
                                     "callable that returns the torch.nn.Module)",
                                     p.model_py));
      }
    }
    if (p.tasks != std::vector<std::string>{"infer"}) {
      fail("tasks", "a model file is benchmarked for inference only: tasks = [\"infer\"]");
    }
  } else if (!p.model_input_files.empty()) {
    fail("model.input_files",
         fmt::format("gives input rows of a user's model, which the {} workload does not run",
                     p.workload));
  } else if (!p.model_file.empty() || !p.model_py.empty()) {
    fail(p.model_file.empty() ? "model.py" : "model.file",
         fmt::format("names a model file, which the {} workload does not run (it runs with "
                     "workload user_model)",
                     p.workload));
  }
  finite_in("llm.lr", p.llm.lr, 0.0, 1e6);
  finite_in("llm.weight_decay", p.llm.weight_decay, 0.0, 1e6);
  finite_in("llm.lora_alpha", p.llm.lora_alpha, 1e-9, 1e9);
  finite_in("llm.lora_dropout", p.llm.lora_dropout, 0.0, 0.999);
  for (const auto& [key, v, lo] :
       {std::tuple{"llm.seq_len", p.llm.seq_len, 1},
        std::tuple{"llm.lora_rank", p.llm.lora_rank, 1},
        std::tuple{"llm.synthetic_documents", p.llm.synthetic_documents, 1},
        std::tuple{"llm.prompt_tokens", p.llm.prompt_tokens, 1},
        std::tuple{"llm.decode_tokens", p.llm.decode_tokens, 1}}) {
    if (v < lo) fail(key, fmt::format("must be at least {}, not {}", lo, v));
  }
  if (p.trials < 1) fail("trials", "must be at least 1");
  if (p.warmup_trials < 0 || p.warmup_trials > 10) {
    fail("warmup_trials", "must be between 0 and 10 (1 fills the page cache; 0 leaves it cold)");
  }
  if (p.threads.empty()) fail("threads", "names no thread count (0 = all usable cores)");
  for (std::int64_t t : p.threads) {
    if (t < 0 || t > 4096) fail("threads", "must each be 0 (all usable cores) or a positive count");
  }
  const auto one_of = [&](const std::string& key, const std::vector<std::string>& values,
                          const std::vector<std::string>& allowed) {
    if (values.empty())
      fail(key, fmt::format("names nothing (expected {})", fmt::join(allowed, ", ")));
    for (const std::string& v : values) {
      if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
        fail(key,
             fmt::format("unknown value '{}' (expected one of: {})", v, fmt::join(allowed, ", ")));
      }
    }
  };
  one_of("precisions", p.precisions, {"fp32", "bf16"});
  one_of("memory_formats", p.memory_formats, {"contiguous", "channels_last"});
  if (p.device != "cpu" && p.device != "cuda")
    fail("device", fmt::format("must be cpu or cuda, not '{}'", p.device));
  if (p.backends.empty()) fail("backends", "names no backend (e.g. --backends libtorch)");
  if (p.tasks.empty()) fail("tasks", "names no task (train, infer, train_ddp, input_pipeline)");
  for (const std::string& t : p.tasks) {
    if (t != kTaskTrain && t != kTaskInfer && t != kTaskTrainDdp && t != kTaskInputPipeline)
      fail(
          "tasks",
          fmt::format("unknown task '{}' (expected train, infer, train_ddp or input_pipeline)", t));
  }
  no_duplicates("pipeline.workers", p.pipeline.workers);
  no_duplicates("pipeline.model_steps", p.pipeline.model_steps);
  if (p.pipeline.workers.empty()) fail("pipeline.workers", "names no worker count (e.g. 0,1,2)");
  for (std::int64_t n : p.pipeline.workers) {
    if (n < 0 || n > 64) fail("pipeline.workers", "must each be between 0 and 64");
  }
  if (p.pipeline.model_steps.empty()) fail("pipeline.model_steps", "names none (none, train)");
  one_of("pipeline.model_steps", p.pipeline.model_steps, {"none", "train"});
  if (p.pipeline.check_batches < 0 || p.pipeline.check_batches > 64) {
    fail("pipeline.check_batches", "must be between 0 and 64");
  }
  if (std::find(p.tasks.begin(), p.tasks.end(), kTaskInputPipeline) != p.tasks.end()) {
    if (p.workload != kWorkloadImage) {
      fail("tasks", fmt::format("input_pipeline runs the {} workload only", kWorkloadImage));
    }
    std::error_code ec;
    if (!p.pipeline.images_dir.empty() &&
        !std::filesystem::is_directory(p.pipeline.images_dir, ec)) {
      fail("pipeline.images_dir",
           fmt::format("{} is not a folder (expected DIR/<class>/<image>.png|.jpg)",
                       p.pipeline.images_dir.string()));
    }
  }
  no_duplicates("ddp.processes", p.ddp_processes);
  no_duplicates("ddp.hosts", p.ddp_hosts);
  if (p.ddp_processes.empty()) fail("ddp.processes", "names no process count");
  if (p.ddp_hosts.empty()) fail("ddp.hosts", "names no host count");
  for (std::int64_t n : p.ddp_processes) {
    if (n < 1 || n > 64) fail("ddp.processes", "must each be between 1 and 64");
  }
  for (std::int64_t n : p.ddp_hosts) {
    if (n < 1 || n > 8) fail("ddp.hosts", "must each be between 1 and 8");
  }
  if (std::find(p.tasks.begin(), p.tasks.end(), kTaskTrainDdp) != p.tasks.end()) {
    if (p.workload != kWorkloadImage) {
      fail("tasks", fmt::format("train_ddp runs the {} workload only", kWorkloadImage));
    }
    const bool some_layout =
        std::any_of(p.ddp_hosts.begin(), p.ddp_hosts.end(), [&](std::int64_t hosts) {
          return std::any_of(p.ddp_processes.begin(), p.ddp_processes.end(),
                             [&](std::int64_t n) { return n >= hosts && n % hosts == 0; });
        });
    if (!some_layout) {
      fail("ddp.hosts",
           fmt::format("no host count ({}) divides a process count ({}): every host runs the "
                       "same number of processes (e.g. --ddp-processes 2,4 --ddp-hosts 1,2)",
                       fmt::join(p.ddp_hosts, ", "), fmt::join(p.ddp_processes, ", ")));
    }
  }
  if (p.trial_timeout_s <= 0) fail("trial_timeout_s", "must be positive");
  if (p.num_classes < 2 || p.num_classes > 256)
    fail("model.num_classes", "must be between 2 and 256");
  if (p.synthetic_train_per_file < 1 || p.synthetic_test < 1)
    fail("data.synthetic_*", "must be at least 1");
  if (p.train_batch_size < 1) fail("train.batch_size", "must be at least 1");
  if (p.infer_batch_sizes.empty()) fail("infer.batch_sizes", "names no batch size");
  for (std::int64_t b : p.infer_batch_sizes) {
    if (b < 1) fail("infer.batch_sizes", "must all be at least 1");
  }
  if (p.parity_batch < 0) fail("infer.parity_batch", "must not be negative");
  if (p.optimizer.name != "sgd")
    fail("train.optimizer", fmt::format("unknown optimizer '{}' (expected sgd)", p.optimizer.name));
  for (const auto& [section, b] :
       {std::pair{"train", p.train_budget}, std::pair{"infer", p.infer_budget}}) {
    if (b.min_steps < 1) fail(fmt::format("{}.min_steps", section), "must be at least 1");
    if (b.max_steps != 0 && b.max_steps < b.min_steps)
      fail(fmt::format("{}.max_steps", section), "must be 0 or >= min_steps");
    if (b.max_seconds <= 0 || b.min_seconds < 0 || b.min_seconds > b.max_seconds) {
      fail(fmt::format("{}.min_seconds/max_seconds", section),
           "need 0 <= min_seconds <= max_seconds, max_seconds > 0");
    }
  }
}

nlohmann::json ToJson(const Plan& plan) {
  nlohmann::json j = nlohmann::json::object();
  for (const PlanField& f : PlanFields()) j[f.key] = f.to_text(plan);
  nlohmann::json workers = nlohmann::json::object();
  for (const auto& [name, w] : plan.workers)
    workers[name] = {{"command", w.command}, {"mode", w.mode}};
  j["workers"] = workers;
  if (!plan.worker_pythons.empty()) j["worker_pythons"] = plan.worker_pythons;
  return j;
}

void ResolveWorkload(Plan& plan) {
  if ((!plan.model_file.empty() || !plan.model_py.empty()) &&
      plan.workload == "image_classification") {
    plan.workload = "user_model";
  }
}

std::string ToToml(const Plan& plan) {
  std::string top, sections;
  std::string current_section;
  for (const PlanField& f : PlanFields()) {
    // An image plan's TOML stays free of the LLM settings it does not use.
    if (plan.workload != "llm_lora" && f.key.starts_with("llm.")) continue;
    if (plan.workload != "user_model" &&
        (f.key == "model.file" || f.key == "model.py" || f.key == "model.inputs" ||
         f.key == "model.input_files")) {
      continue;
    }
    const auto dot = f.key.rfind('.');
    const std::string section = dot == std::string::npos ? "" : f.key.substr(0, dot);
    const std::string key = dot == std::string::npos ? f.key : f.key.substr(dot + 1);
    const std::string text = f.to_text(plan);
    std::string value;
    if (f.type == "string") {
      value = TomlQuote(text);
    } else if (f.type == "list of strings") {
      std::vector<std::string> quoted;
      for (const std::string& s : SplitCommas(text)) quoted.push_back(TomlQuote(s));
      value = fmt::format("[{}]", fmt::join(quoted, ", "));
    } else if (f.type == "list of integers") {
      value = fmt::format("[{}]", fmt::join(SplitCommas(text), ", "));
    } else {
      value = text;
    }
    std::string& target = section.empty() ? top : sections;
    if (!section.empty() && section != current_section) {
      sections += fmt::format("\n[{}]\n", section);
      current_section = section;
    }
    target += fmt::format("{} = {}\n", key, value);
  }
  for (const auto& [name, w] : plan.workers) {
    std::vector<std::string> quoted;
    for (const std::string& s : w.command) quoted.push_back(TomlQuote(s));
    sections += fmt::format("\n[workers.{}]\ncommand = [{}]\nmode = {}\n", name,
                            fmt::join(quoted, ", "), TomlQuote(w.mode));
  }
  for (const auto& [name, python] : plan.worker_pythons) {
    sections += fmt::format("\n[workers.{}]\npython = {}\n", name, TomlQuote(python));
  }
  return top + sections;
}

}  // namespace fwbench
