#include "core/trial_spec.h"

#include <fmt/format.h>

#include <fstream>
#include <set>
#include <sstream>

#include "core/bounded_json.h"
#include "core/error.h"
#include "core/protocol.h"

namespace fwbench {

nlohmann::json ToJson(const TrialSpec& s) {
  nlohmann::json j = {
      {"protocol_version", protocol::kVersion},
      {"trial_id", s.trial_id},
      {"config_id", s.config_id},
      {"workload", s.workload},
      {"task", s.task},
      {"backend", s.backend},
      {"mode", s.mode},
      {"device", s.device},
      {"threads", s.threads},
      {"precision", s.precision},
      {"memory_format", s.memory_format},
      {"seed", s.seed},
      {"model", {{"arch", s.arch}, {"stem", s.stem}, {"num_classes", s.num_classes}}},
      {"data",
       {{"format", s.data_format},
        {"dir", s.data_dir.string()},
        {"augment", s.augment},
        {"shuffle", s.shuffle}}},
      {"weights", s.weights.string()},
      {"batch_size", s.batch_size},
      {"parity_batch", s.parity_batch},
      {"optimizer",
       {{"name", s.optimizer.name},
        {"lr", s.optimizer.lr},
        {"momentum", s.optimizer.momentum},
        {"weight_decay", s.optimizer.weight_decay}}},
      {"budget",
       {{"min_steps", s.budget.min_steps},
        {"max_steps", s.budget.max_steps},
        {"min_seconds", s.budget.min_seconds},
        {"max_seconds", s.budget.max_seconds}}},
      {"output_dir", s.output_dir.string()},
      {"save_model", s.save_model},
  };
  if (!s.onnx_model.empty()) j["onnx_model"] = s.onnx_model.string();
  if (s.rounding_probe != 0) j["rounding_probe"] = s.rounding_probe;
  if (s.task == kTaskTrainDdp) {
    j["ddp"] = {{"processes", s.ddp.processes}, {"hosts", s.ddp.hosts}};
  }
  if (s.task == kTaskInputPipeline) {
    j["pipeline"] = {{"loader", s.pipeline.loader},
                     {"workers", s.pipeline.workers},
                     {"source", s.pipeline.source},
                     {"images_dir", s.pipeline.images_dir.string()},
                     {"model_step", s.pipeline.model_step},
                     {"cache", s.pipeline.cache},
                     {"check_batches", s.pipeline.check_batches}};
  }
  if (s.workload == kWorkloadLlm) {
    j["llm"] = {
        {"tokens", s.llm.tokens.string()},      {"adapter_init", s.llm.adapter_init.string()},
        {"lora_rank", s.llm.lora_rank},         {"lora_alpha", s.llm.lora_alpha},
        {"lora_dropout", s.llm.lora_dropout},   {"lora_targets", s.llm.lora_targets},
        {"prompt_tokens", s.llm.prompt_tokens}, {"decode_tokens", s.llm.decode_tokens}};
  }
  if (s.workload == kWorkloadUserModel) {
    nlohmann::json inputs = nlohmann::json::array();
    for (const UserModelInput& i : s.user_model.inputs) {
      inputs.push_back({{"name", i.name}, {"dtype", i.dtype}, {"shape", i.shape}});
    }
    j["user_model"] = {{"file", s.user_model.file.string()},
                       {"format", s.user_model.format},
                       {"inputs_file", s.user_model.inputs_file.string()},
                       {"inputs", std::move(inputs)}};
    if (!s.user_model.entry.empty()) {
      j["user_model"]["entry"] = s.user_model.entry;
      j["user_model"]["import_path"] = s.user_model.import_path.string();
    }
  }
  return j;
}

namespace {

void CheckPipelineSpec(const TrialSpec& s, bool present, const std::string& source) {
  const PipelineSpec& p = s.pipeline;
  const auto fail = [&](const std::string& what) {
    throw UsageError(fmt::format("{}: field \"pipeline\": {}", source, what));
  };
  if (!present) fail("task \"input_pipeline\" needs it (loader, workers, source, model_step)");
  if (s.workload != kWorkloadImage) {
    fail(fmt::format("task \"input_pipeline\" runs workload \"{}\" only", kWorkloadImage));
  }
  if (p.loader != "cpp" && p.loader != "dataloader" && p.loader != "tf.data" &&
      p.loader != "grain") {
    fail(fmt::format("loader must be cpp, dataloader, tf.data or grain, not \"{}\"", p.loader));
  }
  if (p.workers < 0) fail(fmt::format("workers must be >= 0, not {}", p.workers));
  if (p.source != kPipelineSourceCifar && p.source != kPipelineSourceFolder) {
    fail(fmt::format("source must be {} or {}, not \"{}\"", kPipelineSourceCifar,
                     kPipelineSourceFolder, p.source));
  }
  if (p.source == kPipelineSourceFolder && p.images_dir.empty()) {
    fail("source image-folder needs images_dir (a folder of class folders of images)");
  }
  if (p.model_step != "none" && p.model_step != "train") {
    fail(fmt::format("model_step must be none or train, not \"{}\"", p.model_step));
  }
  if (p.check_batches < 0) fail("check_batches must be >= 0");
}

// Reads typed fields of one JSON object and rejects keys nobody asked for, so a typo in a spec
// is an error instead of a silently ignored setting.
class FieldReader {
 public:
  FieldReader(const nlohmann::json& obj, std::string where, const std::string& source)
      : obj_(obj), where_(std::move(where)), source_(source) {
    if (!obj_.is_object()) Fail(where_.empty() ? "the spec" : where_, "a JSON object");
  }
  ~FieldReader() = default;
  FieldReader(const FieldReader&) = delete;
  FieldReader& operator=(const FieldReader&) = delete;

  template <typename T>
  void Get(const char* key, T& out, bool required = true) {
    seen_.insert(key);
    const auto it = obj_.find(key);
    if (it == obj_.end()) {
      if (required)
        Fail(Path(key), fmt::format("a value ({})", Expected<T>()) + " but it is missing");
      return;
    }
    try {
      out = it->template get<T>();
    } catch (const nlohmann::json::exception&) {
      Fail(Path(key), Expected<T>());
    }
  }
  const nlohmann::json& Object(const char* key) {
    seen_.insert(key);
    const auto it = obj_.find(key);
    if (it == obj_.end() || !it->is_object()) Fail(Path(key), "a JSON object");
    return *it;
  }
  void RejectUnknown() const {
    for (const auto& [key, value] : obj_.items()) {
      if (!seen_.contains(key)) {
        throw UsageError(
            fmt::format("{}: unknown field \"{}\" in the trial spec (protocol version "
                        "{}); remove it or check docs/protocol.md",
                        source_, Path(key.c_str()), protocol::kVersion));
      }
    }
  }

 private:
  template <typename T>
  static const char* Expected() {
    if constexpr (std::is_same_v<T, std::string>)
      return "a string";
    else if constexpr (std::is_same_v<T, bool>)
      return "true or false";
    else if constexpr (std::is_floating_point_v<T>)
      return "a number";
    else if constexpr (std::is_same_v<T, std::vector<std::string>>)
      return "a list of strings";
    else
      return "an integer";
  }
  std::string Path(const char* key) const { return where_.empty() ? key : where_ + "." + key; }
  [[noreturn]] void Fail(const std::string& field, const std::string& expected) const {
    throw UsageError(fmt::format("{}: field \"{}\" must be {}", source_, field, expected));
  }

  const nlohmann::json& obj_;
  std::string where_;
  const std::string& source_;
  std::set<std::string> seen_;
};

}  // namespace

TrialSpec TrialSpecFromJson(const nlohmann::json& json, const std::string& source) {
  TrialSpec s;
  FieldReader top(json, "", source);
  int version = 0;
  top.Get("protocol_version", version);
  if (version != protocol::kVersion) {
    throw UsageError(
        fmt::format("{}: protocol_version {} is not supported (this fwbench speaks "
                    "version {}); regenerate the spec with this fwbench",
                    source, version, protocol::kVersion));
  }
  std::string data_dir, weights, output_dir;
  top.Get("trial_id", s.trial_id);
  top.Get("config_id", s.config_id);
  top.Get("workload", s.workload);
  top.Get("task", s.task);
  top.Get("backend", s.backend);
  top.Get("mode", s.mode);
  top.Get("device", s.device);
  top.Get("threads", s.threads);
  top.Get("precision", s.precision, /*required=*/false);
  top.Get("memory_format", s.memory_format, /*required=*/false);
  top.Get("save_model", s.save_model, /*required=*/false);
  top.Get("rounding_probe", s.rounding_probe, /*required=*/false);
  top.Get("seed", s.seed);
  top.Get("weights", weights);
  top.Get("batch_size", s.batch_size);
  top.Get("parity_batch", s.parity_batch, /*required=*/false);
  top.Get("output_dir", output_dir);
  std::string onnx_model;
  top.Get("onnx_model", onnx_model, /*required=*/false);
  s.onnx_model = onnx_model;
  {
    FieldReader m(top.Object("model"), "model", source);
    m.Get("arch", s.arch);
    m.Get("stem", s.stem);
    m.Get("num_classes", s.num_classes);
    m.RejectUnknown();
  }
  {
    FieldReader d(top.Object("data"), "data", source);
    d.Get("format", s.data_format);
    d.Get("dir", data_dir);
    d.Get("augment", s.augment);
    d.Get("shuffle", s.shuffle);
    d.RejectUnknown();
  }
  {
    FieldReader o(top.Object("optimizer"), "optimizer", source);
    o.Get("name", s.optimizer.name);
    o.Get("lr", s.optimizer.lr);
    o.Get("momentum", s.optimizer.momentum);
    o.Get("weight_decay", s.optimizer.weight_decay);
    o.RejectUnknown();
  }
  {
    FieldReader b(top.Object("budget"), "budget", source);
    b.Get("min_steps", s.budget.min_steps);
    b.Get("max_steps", s.budget.max_steps);
    b.Get("min_seconds", s.budget.min_seconds);
    b.Get("max_seconds", s.budget.max_seconds);
    b.RejectUnknown();
  }
  if (json.contains("llm")) {
    FieldReader l(top.Object("llm"), "llm", source);
    std::string tokens, adapter_init;
    l.Get("tokens", tokens);
    l.Get("adapter_init", adapter_init);
    l.Get("lora_rank", s.llm.lora_rank);
    l.Get("lora_alpha", s.llm.lora_alpha);
    l.Get("lora_dropout", s.llm.lora_dropout);
    l.Get("lora_targets", s.llm.lora_targets);
    l.Get("prompt_tokens", s.llm.prompt_tokens);
    l.Get("decode_tokens", s.llm.decode_tokens);
    l.RejectUnknown();
    s.llm.tokens = tokens;
    s.llm.adapter_init = adapter_init;
  }
  if (json.contains("ddp")) {
    FieldReader d(top.Object("ddp"), "ddp", source);
    d.Get("processes", s.ddp.processes);
    d.Get("hosts", s.ddp.hosts);
    d.RejectUnknown();
  }
  if (json.contains("pipeline")) {
    FieldReader p(top.Object("pipeline"), "pipeline", source);
    std::string images_dir;
    p.Get("loader", s.pipeline.loader);
    p.Get("workers", s.pipeline.workers);
    p.Get("source", s.pipeline.source);
    p.Get("images_dir", images_dir, false);
    p.Get("model_step", s.pipeline.model_step);
    p.Get("cache", s.pipeline.cache, false);
    p.Get("check_batches", s.pipeline.check_batches, false);
    p.RejectUnknown();
    s.pipeline.images_dir = images_dir;
  }
  top.RejectUnknown();
  if (s.workload != kWorkloadImage && s.workload != kWorkloadLlm) {
    throw UsageError(fmt::format("{}: field \"workload\" must be \"{}\" or \"{}\", not \"{}\"",
                                 source, kWorkloadImage, kWorkloadLlm, s.workload));
  }
  if (s.workload == kWorkloadLlm && !json.contains("llm")) {
    throw UsageError(
        fmt::format("{}: workload \"{}\" needs an \"llm\" object (tokens, "
                    "adapter_init, lora_*; docs/protocol.md)",
                    source, kWorkloadLlm));
  }
  s.data_dir = data_dir;
  s.weights = weights;
  s.output_dir = output_dir;
  if (s.task != kTaskTrain && s.task != kTaskInfer && s.task != kTaskTrainDdp &&
      s.task != kTaskInputPipeline) {
    throw UsageError(
        fmt::format("{}: field \"task\" must be \"train\", \"infer\", \"train_ddp\" or "
                    "\"input_pipeline\", not \"{}\"",
                    source, s.task));
  }
  if (s.task == kTaskInputPipeline) CheckPipelineSpec(s, json.contains("pipeline"), source);
  if (s.task == kTaskTrainDdp) {
    if (s.workload != kWorkloadImage) {
      throw UsageError(
          fmt::format("{}: task \"train_ddp\" runs workload \"{}\" only", source, kWorkloadImage));
    }
    if (s.ddp.processes < 1 || s.ddp.hosts < 1 || s.ddp.processes % s.ddp.hosts != 0) {
      throw UsageError(
          fmt::format("{}: field \"ddp\": processes ({}) must be a positive multiple of hosts ({})",
                      source, s.ddp.processes, s.ddp.hosts));
    }
  }
  if (s.precision != "fp32" && s.precision != "bf16") {
    throw UsageError(fmt::format("{}: field \"precision\" must be \"fp32\" or \"bf16\", not \"{}\"",
                                 source, s.precision));
  }
  if (s.memory_format != "contiguous" && s.memory_format != "channels_last") {
    throw UsageError(
        fmt::format("{}: field \"memory_format\" must be \"contiguous\" or \"channels_last\", "
                    "not \"{}\"",
                    source, s.memory_format));
  }
  if (s.threads < 1) throw UsageError(fmt::format("{}: field \"threads\" must be >= 1", source));
  if (s.batch_size < 1) {
    throw UsageError(fmt::format("{}: field \"batch_size\" must be >= 1", source));
  }
  return s;
}

TrialSpec ReadTrialSpec(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    throw UsageError(
        fmt::format("{}: cannot open the trial spec (does the file exist?)", path.string()));
  }
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json json = ParseJsonOrDiscard(text.str());
  if (json.is_discarded()) {
    throw UsageError(fmt::format("{}: the trial spec is not valid JSON", path.string()));
  }
  return TrialSpecFromJson(json, path.string());
}

}  // namespace fwbench
