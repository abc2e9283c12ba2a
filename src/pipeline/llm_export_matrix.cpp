#include "pipeline/llm_export_matrix.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "analysis/parity.h"
#include "analysis/stats.h"
#include "backends/inputs/llm_merge.h"
#include "core/atomic_file.h"
#include "core/bounded_json.h"
#include "core/error.h"
#include "data/safetensors.h"
#include "report/results.h"

namespace fwbench::pipeline {

namespace {

namespace st = safetensors;

struct ExportPath {
  std::string id;
  std::string framework;  // whose model it exports: the pick line names it
  std::string worker;     // the worker whose interpreter runs the converter
  std::string file;       // under export/
  std::string input;      // another export's id whose file it converts; "" = the checkpoint
  std::vector<std::string> runtimes;
};

const std::vector<ExportPath>& Paths() {
  static const std::vector<ExportPath> paths = {
      {"onnx-dynamo", "pytorch", "pytorch", "step.onnx", "", {"onnxruntime", "onnxruntime-node"}},
      {"aoti", "pytorch", "pytorch", "step.pt2", "", {"aoti"}},
      {"torchscript", "pytorch", "pytorch", "step.pt", "", {"torchscript"}},
      {"savedmodel", "keras3", "keras3", "savedmodel", "", {"tensorflow"}},
      {"tf2onnx",
       "keras3",
       "keras3",
       "step-tf2onnx.onnx",
       "savedmodel",
       {"onnxruntime", "onnxruntime-node"}},
      // The Keras port's step as the port computes it, without the changes tf2onnx needs.
      {"savedmodel-port", "keras3", "keras3", "savedmodel-port", "", {"tensorflow"}},
      {"tf2onnx-port",
       "keras3",
       "keras3",
       "step-tf2onnx-port.onnx",
       "savedmodel-port",
       {"onnxruntime"}},
  };
  return paths;
}

// Runtime id -> the worker that runs it ("" = this fwbench, `llm-export-run`).
const std::map<std::string, std::string>& RuntimeWorkers() {
  static const std::map<std::string, std::string> workers = {
      {"onnxruntime", "onnxruntime"},
      {"onnxruntime-node", "onnxruntime-node"},
      {"tensorflow", "tensorflow"},
      {"libtorch", ""},
      {"torchscript", ""},
      {"aoti", ""}};
  return workers;
}

// The adapter folder of the first ok training trial of `from` (or of any training
// configuration, LibTorch's first), and the configuration it belongs to.
std::pair<std::filesystem::path, std::string> FindAdapter(const std::filesystem::path& run_dir,
                                                          const std::string& from) {
  std::ifstream in(run_dir / "trials.jsonl");
  std::vector<std::pair<std::filesystem::path, std::string>> found;
  std::vector<std::string> configs;
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json r = ParseJsonOrDiscard(line);
    if (!r.is_object() || r.value("task", "") != "train") continue;
    const std::string config = r.value("config", "");
    if (std::find(configs.begin(), configs.end(), config) == configs.end()) {
      configs.push_back(config);
    }
    const std::filesystem::path adapter = run_dir / "trials" / r.value("trial", "") / "adapter";
    if (r.value("status", "") != "ok" || !std::filesystem::exists(adapter / "adapter_config.json"))
      continue;
    if (from.empty() || config == from) found.emplace_back(adapter, config);
  }
  if (found.empty()) {
    if (!from.empty()) {
      throw UsageError(fmt::format(
          "--from {}: no ok training trial of that configuration saved an adapter in {} "
          "(training configurations there: {})",
          from, run_dir.string(),
          configs.empty() ? "none" : fmt::format("{}", fmt::join(configs, ", "))));
    }
    throw UsageError(fmt::format(
        "{}: no training trial saved an adapter; run the llm_lora workload with tasks = "
        "[\"train\", ...] (the first trial of each training configuration saves one)",
        run_dir.string()));
  }
  const auto libtorch = std::find_if(
      found.begin(), found.end(), [](const auto& f) { return f.second.starts_with("libtorch/"); });
  return libtorch != found.end() ? *libtorch : found.front();
}

// The first sequence of the run's token file, its first `prompt_tokens`: [1, P] int64.
void WritePrompt(const std::filesystem::path& tokens, std::int64_t prompt_tokens,
                 const std::filesystem::path& out) {
  const st::File file = st::File::Read(tokens);
  const st::TensorInfo* t = file.Find("tokens");
  if (t == nullptr || t->dtype != st::DType::kI32 || t->shape.size() != 2 || t->shape[0] < 1) {
    throw UsageError(fmt::format("{}: expected a tensor \"tokens\" of I32 [sequences, length]",
                                 tokens.string()));
  }
  const std::int64_t p = std::min(prompt_tokens, t->shape[1]);
  std::vector<std::int32_t> row(static_cast<std::size_t>(p));
  std::memcpy(row.data(), file.Bytes(*t).data(), row.size() * sizeof(std::int32_t));
  const std::vector<std::int64_t> prompt(row.begin(), row.end());
  st::Write(out, {{"tokens",
                   st::DType::kI64,
                   {1, p},
                   {reinterpret_cast<const std::byte*>(prompt.data()),
                    prompt.size() * sizeof(std::int64_t)}}});
}

const BuiltinBackend* Worker(const std::vector<BuiltinBackend>& workers, const std::string& name) {
  for (const BuiltinBackend& w : workers) {
    if (w.name == name) return &w;
  }
  return nullptr;
}

// A one-shot worker or fwbench command: its answer, or an ok-false answer saying why not.
nlohmann::json Ask(const std::vector<std::string>& argv, const std::filesystem::path& request_file,
                   const nlohmann::json& request, const std::string& what) {
  WriteFileAtomically(request_file, request.dump(2));
  const std::filesystem::path log = request_file.string() + ".log";
  try {
    return RunWorkerCommand(argv, log, 900.0, what);
  } catch (const std::exception& e) {
    return {{"ok", false}, {"reason", e.what()}};
  }
}

double Median(const nlohmann::json& seconds) {
  std::vector<double> v;
  for (const auto& s : seconds) v.push_back(s.get<double>());
  return v.empty() ? 0.0 : stats::Percentile(v, 50);
}

// Parity and speed of one runtime's answer against the reference's.
void CompareOrThrow(const nlohmann::json& reference, const nlohmann::json& answer,
                    std::int64_t prompt_tokens, std::int64_t new_tokens, nlohmann::json& row) {
  row["load_s"] = answer.value("load_s", 0.0);
  const parity::LogitsComparison logits = parity::CompareLogits(
      parity::ReadOutput(reference.at("logits").get<std::string>()),
      parity::ReadOutput(answer.at("logits").get<std::string>()), parity::ToleranceFor("fp32"));
  row["logits_max_abs"] = logits.max_abs;
  row["parity"] = logits.pass ? "pass" : "fail";
  if (!logits.pass) row["parity_problem"] = logits.problem;
  const auto& want = reference.at("tokens");
  const auto& got = answer.at("tokens");
  std::size_t same = 0;
  while (same < want.size() && same < got.size() && want[same] == got[same]) ++same;
  row["tokens_matching"] = same;
  row["tokens_equal"] = same == want.size() && got.size() == want.size();
  row["tokens"] = got;
  const double prefill = Median(answer.at("prefill_s"));
  const double decode = Median(answer.at("decode_s"));
  if (prefill > 0) row["prefill_tokens_per_s"] = static_cast<double>(prompt_tokens) / prefill;
  // One new token is the prefill's: no decode step to time.
  if (decode > 0 && new_tokens > 1) {
    row["decode_tokens_per_s"] = static_cast<double>(new_tokens - 1) / decode;
  }
  row["works"] = logits.pass && row["tokens_equal"].get<bool>();
}

void Compare(const nlohmann::json& reference, const nlohmann::json& answer,
             std::int64_t prompt_tokens, std::int64_t new_tokens, nlohmann::json& row) {
  row["runtime_version"] = answer.value("runtime", "");
  row["works"] = false;
  if (!answer.value("ok", false)) {
    // No stage: the worker itself failed (a crash, a refused request), not the runtime.
    row["stage"] = answer.value("stage", "worker");
    row["loads"] = row["stage"] == "run";
    row["reason"] = answer.value("reason", "no answer");
    if (answer.value("unmeasured", false)) row["measured"] = false;
    return;
  }
  row["loads"] = true;
  try {
    CompareOrThrow(reference, answer, prompt_tokens, new_tokens, row);
  } catch (const std::exception& e) {
    // An answer that says ok without usable logits, tokens or times: that row fails, the
    // matrix goes on.
    row["works"] = false;
    row["stage"] = "compare";
    row["reason"] = fmt::format("the runtime's answer could not be compared: {}", e.what());
  }
}

// The exports to run: the requested ones (all when none) and the exports they convert.
std::set<std::string> Selected(const std::vector<std::string>& requested) {
  std::set<std::string> ids;
  for (const ExportPath& p : Paths()) {
    if (requested.empty() ||
        std::find(requested.begin(), requested.end(), p.id) != requested.end()) {
      ids.insert(p.id);
      if (!p.input.empty()) ids.insert(p.input);
    }
  }
  return ids;
}

}  // namespace

std::set<std::string> LlmExportWorkers(const std::vector<std::string>& exports) {
  std::set<std::string> workers;
  const std::set<std::string> ids = Selected(exports);
  for (const ExportPath& p : Paths()) {
    if (!ids.contains(p.id)) continue;
    workers.insert(p.worker);
    for (const std::string& r : p.runtimes) {
      if (!RuntimeWorkers().at(r).empty()) workers.insert(RuntimeWorkers().at(r));
    }
  }
  return workers;
}

std::vector<std::string> LlmExportIds() {
  std::vector<std::string> ids;
  for (const ExportPath& p : Paths()) ids.push_back(p.id);
  return ids;
}

void CheckLlmExportIds(const std::vector<std::string>& exports) {
  const std::vector<std::string> ids = LlmExportIds();
  for (const std::string& id : exports) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) {
      throw UsageError(
          fmt::format("--exports: unknown export '{}' (have: {})", id, fmt::join(ids, ", ")));
    }
  }
}

nlohmann::json RunLlmExportMatrix(const LlmExportOptions& options,
                                  const std::vector<BuiltinBackend>& workers,
                                  const std::filesystem::path& self_exe, std::ostream& log) {
  const nlohmann::json manifest = ReadRunJsonFile(options.run_dir / "manifest.json");
  if (!manifest.contains("llm") || manifest.value("workload", "") != "llm_lora") {
    throw UsageError(fmt::format("{}: not an llm_lora run (fwbench run --workload llm_lora)",
                                 options.run_dir.string()));
  }
  CheckLlmExportIds(options.exports);
  const nlohmann::json& llm = manifest["llm"];
  const std::filesystem::path dir = options.run_dir / "export";
  std::filesystem::create_directories(dir);
  // A matrix from an earlier call must not stand in for this one's if it stops early.
  std::filesystem::remove(dir / "matrix.json");
  const auto [adapter, from] = FindAdapter(options.run_dir, options.from);
  const std::filesystem::path merged = dir / "merged";
  std::filesystem::remove_all(merged);
  log << fmt::format("merging the adapters of {} ({}) into {}\n", from, adapter.string(),
                     llm.value("checkpoint", ""));
  MergeLoraAdapter(llm.at("checkpoint").get<std::string>(), adapter, merged);
  const std::int64_t prompt_tokens =
      std::stoll(manifest.at("plan").value("llm.prompt_tokens", "32"));
  const std::filesystem::path prompt = dir / "prompt.safetensors";
  WritePrompt(llm.at("tokens").get<std::string>(), prompt_tokens, prompt);
  const std::int64_t p = st::File::Read(prompt).Find("tokens")->shape[1];
  const std::int64_t cache_len = p + options.new_tokens;
  // RoPE tables (the Keras port's) end there: past it a runtime would fail for fwbench's choice.
  const std::int64_t max_positions =
      ReadRunJsonFile(merged / "config.json").value("max_position_embeddings", std::int64_t{2048});
  if (cache_len > max_positions) {
    throw UsageError(fmt::format(
        "--new-tokens {}: the prompt ({} tokens) and the new tokens make {} positions, more than "
        "the model's max_position_embeddings {}; use --new-tokens {} or fewer",
        options.new_tokens, p, cache_len, max_positions, max_positions - p));
  }
  const std::set<std::string> selected = Selected(options.exports);

  nlohmann::json matrix = {
      {"adapter", adapter.string()},
      {"from", from},
      {"checkpoint", llm.value("checkpoint", "")},
      {"merged", merged.string()},
      {"prompt_tokens", p},
      {"new_tokens", options.new_tokens},
      {"threads", options.threads},
      {"repeats", options.repeats},
      {"exports", options.exports.empty()
                      ? LlmExportIds()
                      : std::vector<std::string>(selected.begin(), selected.end())},
      {"complete", false},
      {"rows", nlohmann::json::array()}};
  const auto save = [&] { WriteFileAtomically(dir / "matrix.json", matrix.dump(2) + "\n"); };
  const auto run_request = [&](const std::string& runtime, const std::filesystem::path& file,
                               const std::string& name) {
    return nlohmann::json{
        {"runtime", runtime},          {"file", file.string()},
        {"prompt", prompt.string()},   {"new_tokens", options.new_tokens},
        {"cache_len", cache_len},      {"config", (merged / "config.json").string()},
        {"threads", options.threads},  {"repeats", options.repeats},
        {"out", (dir / name).string()}};
  };
  const auto run = [&](const std::string& runtime, const std::filesystem::path& file,
                       const std::string& name) -> nlohmann::json {
    const std::string worker_name = RuntimeWorkers().at(runtime);
    std::vector<std::string> argv;
    if (worker_name.empty()) {
      argv = {self_exe.string(), "llm-export-run"};
    } else {
      const BuiltinBackend* w = Worker(workers, worker_name);
      if (w == nullptr || !w->Available() || w->command.size() < 2) {
        return {{"ok", false},
                {"runtime", runtime},
                {"stage", "load"},
                {"unmeasured", true},
                {"reason", fmt::format("the {} worker cannot run here: {}", worker_name,
                                       w == nullptr ? "not in the catalogue" : w->unavailable)}};
      }
      argv = {w->command[0], w->command[1], "--llm-run"};
    }
    const std::filesystem::path request = dir / (name + ".request.json");
    argv.push_back(request.string());
    return Ask(argv, request, run_request(runtime, file, name),
               fmt::format("{} on {}", runtime, file.filename().string()));
  };

  log << fmt::format(
      "reference: LibTorch eager on the merged checkpoint, {} prompt tokens, {} "
      "new, {} thread(s)\n",
      p, options.new_tokens, options.threads);
  const nlohmann::json reference = run("libtorch", merged, "reference");
  if (!reference.value("ok", false)) {
    throw std::runtime_error(
        fmt::format("the reference generation failed: {}", reference.value("reason", "no answer")));
  }
  matrix["reference"] = reference;
  Compare(reference, reference, p, options.new_tokens, matrix["reference"]);
  save();

  std::map<std::string, std::filesystem::path> files;
  std::set<std::string> unmeasured;  // exports whose worker cannot run here
  for (const ExportPath& path : Paths()) {
    if (!selected.contains(path.id)) continue;
    const std::filesystem::path file = dir / path.file;
    std::filesystem::remove_all(file);
    log << fmt::format("export {} ({})…\n", path.id, path.framework);
    nlohmann::json exported;
    const BuiltinBackend* w = Worker(workers, path.worker);
    if (!path.input.empty() && !files.contains(path.input)) {
      exported = {
          {"ok", false},
          {"unmeasured", unmeasured.contains(path.input)},
          {"reason", fmt::format("needs the {} export, which did not succeed", path.input)}};
    } else if (w == nullptr || !w->Available() || w->command.size() < 2) {
      exported = {{"ok", false},
                  {"unmeasured", true},
                  {"reason", fmt::format("the {} worker cannot run here: {}", path.worker,
                                         w == nullptr ? "not in the catalogue" : w->unavailable)}};
    } else {
      nlohmann::json request = {{"export", path.id},          {"checkpoint", merged.string()},
                                {"cache_len", cache_len},     {"prompt_len", p},
                                {"threads", options.threads}, {"file", file.string()}};
      if (!path.input.empty()) request["savedmodel"] = files.at(path.input).string();
      const std::filesystem::path request_file = dir / (path.id + ".export.json");
      exported = Ask({w->command[0], w->command[1], "--llm-export", request_file.string()},
                     request_file, request, fmt::format("the {} export", path.id));
    }
    if (exported.value("ok", false)) files[path.id] = file;
    if (exported.value("unmeasured", false)) unmeasured.insert(path.id);
    for (const std::string& runtime : path.runtimes) {
      nlohmann::json row = {{"export", path.id},
                            {"framework", path.framework},
                            {"converter", exported.value("converter", "")},
                            {"exported", exported.value("ok", false)},
                            {"changes", exported.value("changes", nlohmann::json::array())},
                            {"runtime", runtime}};
      if (!exported.value("ok", false)) {
        row["loads"] = false;
        row["works"] = false;
        row["reason"] = exported.value("reason", "no answer");
        row["stage"] = "export";
        // A worker missing here, or an export that needs another one which failed: no finding.
        if (exported.value("unmeasured", false)) row["measured"] = false;
      } else {
        row["export_s"] = exported.value("seconds", 0.0);
        log << fmt::format("  {} …\n", runtime);
        const nlohmann::json answer = run(runtime, file, path.id + "-" + runtime);
        if (!answer.value("ok", false)) row["stage"] = answer.value("stage", "run");
        Compare(reference, answer, p, options.new_tokens, row);
      }
      matrix["rows"].push_back(row);
      save();
    }
  }
  matrix["complete"] = true;
  save();
  return matrix;
}

}  // namespace fwbench::pipeline
