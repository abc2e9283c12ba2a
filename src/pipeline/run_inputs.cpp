#include "pipeline/run_inputs.h"

#include "pipeline/user_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <set>

#include "backends/inputs/llm_inputs.h"
#include "backends/trial/libtorch_trial.h"
#include "core/bounded_json.h"
#include "core/env_fingerprint.h"
#include "core/error.h"
#include "data/cifar10.h"
#include "data/synthetic.h"
#include "orchestrate/process.h"

namespace fwbench::pipeline {

// The data every trial reads: the user's CIFAR-10 folder (validated up front, so a truncated
// file is a usage error before any trial runs) or the embedded synthetic set, generated once.
std::filesystem::path PrepareData(const Plan& plan) {
  if (!plan.data_dir.empty()) {
    std::cerr << fmt::format("checking data in {} …\n", plan.data_dir.string());
    data::ReadCifar10Dir(plan.data_dir, data::Split::kTrain);
    data::ReadCifar10Dir(plan.data_dir, data::Split::kTest);
    return std::filesystem::absolute(plan.data_dir);
  }
  const data::SyntheticOptions options{
      .seed = plan.seed,
      .train_per_file = static_cast<std::size_t>(plan.synthetic_train_per_file),
      .test_records = static_cast<std::size_t>(plan.synthetic_test)};
  std::filesystem::path dir =
      std::filesystem::absolute(plan.out_dir / "cache" /
                                fmt::format("synthetic-cifar10-s{}-{}x5-{}", plan.seed,
                                            plan.synthetic_train_per_file, plan.synthetic_test));
  if (data::EnsureSyntheticCifar10(dir, options)) {
    std::cerr << fmt::format("generated synthetic CIFAR-10 data in {}\n", dir.string());
  }
  return dir;
}

namespace {

// fwbench-tokenize beside this binary, or $FWBENCH_TOKENIZE.
std::filesystem::path TokenizeTool() {
  if (const char* env = std::getenv("FWBENCH_TOKENIZE"); env != nullptr && *env != '\0') {
    return env;
  }
  return std::filesystem::read_symlink("/proc/self/exe").parent_path() / "fwbench-tokenize";
}

std::int64_t PackWithSentencePiece(const std::filesystem::path& corpus,
                                   const std::filesystem::path& model, std::int64_t seq_len,
                                   const std::filesystem::path& out) {
  std::cerr << fmt::format("tokenizing {} with {} …\n", corpus.string(), model.string());
  ProcessOptions options;
  options.argv = {TokenizeTool().string(),
                  "pack",
                  "--corpus",
                  corpus.string(),
                  "--tokenizer",
                  model.string(),
                  "--seq-len",
                  std::to_string(seq_len),
                  "--out",
                  out.string()};
  options.stderr_path = out.string() + ".stderr.txt";
  options.timeout_s = 3600.0;
  std::string answer;
  const ProcessResult r = RunProcess(options, [&](std::string_view line) {
    answer = std::string(line);
    return true;
  });
  std::string tail;
  {
    std::ifstream in(options.stderr_path);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) tail = line;
    }
  }
  std::filesystem::remove(options.stderr_path);
  if (!r.started) {
    throw UsageError(
        fmt::format("cannot start {} ({}): build it with scripts/build.sh, or set "
                    "FWBENCH_TOKENIZE",
                    options.argv[0], r.start_error));
  }
  const nlohmann::json j = ParseJsonOrDiscard(answer);
  if (r.exit_code != 0 || !j.is_object()) {
    std::filesystem::remove(out);
    throw UsageError(tail.empty()
                         ? fmt::format("{} failed (exit code {})", options.argv[0], r.exit_code)
                         : tail);
  }
  return j.value("vocab_size", std::int64_t{0});
}

}  // namespace

void PrepareLlm(const Plan& plan, RunInputs& inputs) {
  const LlmPlan& l = plan.llm;
  const LlmPrepared prepared =
      PrepareLlmInputs({.preset = l.preset,
                        .checkpoint = l.checkpoint,
                        .corpus = l.corpus,
                        .tokenizer = l.tokenizer,
                        .seq_len = l.seq_len,
                        .synthetic_documents = l.synthetic_documents,
                        .lora_rank = l.lora_rank,
                        .lora_alpha = l.lora_alpha,
                        .lora_dropout = l.lora_dropout,
                        .lora_targets = l.lora_targets,
                        .adapter = l.adapter,
                        .prompt_tokens = l.prompt_tokens,
                        .decode_tokens = l.decode_tokens,
                        .seed = plan.seed,
                        .cache_dir = std::filesystem::absolute(plan.out_dir / "cache"),
                        .pack_sentencepiece = PackWithSentencePiece},
                       std::cerr);
  inputs.weights = prepared.checkpoint;
  inputs.tokens = prepared.tokens;
  inputs.adapter_init = prepared.adapter_init;
  inputs.llm_facts = prepared.facts;
}

std::filesystem::path PrepareWeights(const Plan& plan) {
  if (!plan.weights.empty()) {
    // The user's checkpoint: refuse it now, with its problems named, rather than in every trial.
    CheckWeights(plan.arch, plan.stem, plan.num_classes, plan.weights);
    return std::filesystem::absolute(plan.weights);
  }
  std::filesystem::path path =
      std::filesystem::absolute(plan.out_dir / "cache" /
                                fmt::format("weights-{}-{}-c{}-s{}.safetensors", plan.arch,
                                            plan.stem, plan.num_classes, plan.seed));
  if (std::filesystem::exists(path)) {
    try {
      CheckWeights(plan.arch, plan.stem, plan.num_classes, path);
      return path;
    } catch (const UsageError& e) {
      std::cerr << fmt::format("cached weights are unusable, generating them again: {}\n",
                               e.what());
    }
  }
  // With --data the synthetic set is not generated, so nothing has made the cache folder yet
  // (issue 19: a new --out failed with "cannot write …tmp-…").
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) {
    throw UsageError(fmt::format(
        "{}: cannot create the cache folder for the generated initial weights ({}); choose a "
        "writable --out",
        path.parent_path().string(), ec.message()));
  }
  GenerateInitialWeights(plan.arch, plan.stem, plan.num_classes, plan.seed, path);
  std::cerr << fmt::format("generated initial weights {}\n", path.string());
  return path;
}

// The ONNX export of the weights, for backends that run ONNX; made once per weights file and
// kept next to it (a stale one, older than the weights, is made again).
std::filesystem::path PrepareOnnx(const Plan& plan, const std::filesystem::path& weights,
                                  const std::vector<BuiltinBackend>& builtins, bool raw) {
  std::filesystem::path path = weights;
  // The suffix names the export recipe (opset, Identity inlining): a new recipe, a new file.
  path.replace_extension(raw ? ".opset13-raw.onnx" : ".opset13-v2.onnx");
  if (std::filesystem::exists(path) &&
      std::filesystem::last_write_time(path) >= std::filesystem::last_write_time(weights)) {
    return path;
  }
  const auto pytorch = std::find_if(builtins.begin(), builtins.end(),
                                    [](const BuiltinBackend& b) { return b.name == "pytorch"; });
  if (pytorch == builtins.end()) throw std::runtime_error("no PyTorch worker to export ONNX");
  std::cerr << fmt::format("exporting {} to ONNX …\n", weights.filename().string());
  const nlohmann::json answer =
      ExportOnnx(*pytorch, plan.arch, plan.stem, plan.num_classes, weights, path, raw);
  const int inlined = answer.value("identities_inlined", -1);
  std::cerr << fmt::format("exported {} ({}, {:.1f} s{})\n", path.string(),
                           answer.value("exporter", "?"), answer.value("seconds", 0.0),
                           inlined > 0   ? fmt::format(", {} Identity nodes inlined", inlined)
                           : inlined < 0 ? ", onnx package missing: Identity nodes kept"
                                         : "");
  return path;
}

// The boilerplate metric: how many lines of code each backend's port of the workload is
// (`builtins` with LibTorch's entry, whose port is fwbench's own C++).
nlohmann::json PortSizes(const std::vector<Configuration>& configs,
                         const std::vector<BuiltinBackend>& builtins, const std::string& workload) {
  nlohmann::json out = nlohmann::json::object();
  const bool llm = workload == kWorkloadLlm;
  for (const Configuration& c : configs) {
    if (out.contains(c.backend)) continue;
    std::vector<std::filesystem::path> files;
    for (const BuiltinBackend& b : builtins) {
      if (b.name != c.backend) continue;
      if (!llm && !b.port_files.empty()) files = b.port_files;
      if (const auto it = b.workload_port_files.find(workload);
          llm && it != b.workload_port_files.end()) {
        files = it->second;
      }
    }
    if (files.empty()) continue;
    std::int64_t lines = 0;
    nlohmann::json names = nlohmann::json::array();
    for (const auto& f : files) {
      const std::int64_t n = CountCodeLines(f);
      if (n < 0) {
        lines = -1;
        break;
      }
      lines += n;
      names.push_back(f.string());
    }
    if (lines >= 0) out[c.backend] = {{"files", names}, {"code_lines", lines}};
  }
  return out;
}

std::vector<BuiltinBackend> DetectWorkers(const Plan& plan, const std::filesystem::path& self) {
  std::set<std::string> named = BuiltinWorkersNamedBy(plan);
  // A user's model is described, and its parity judged, by its format's own runtime.
  if (plan.workload == kWorkloadUserModel) {
    named.insert(UserModelReference(UserModelFormat(plan)));
  }
  if (named.empty()) return {};
  const std::filesystem::path dir = WorkersDir(self);
  std::cerr << fmt::format("detecting framework workers in {} …\n", dir.string());
  std::vector<BuiltinBackend> builtins = ProbeBuiltinWorkers(
      dir, plan.worker_pythons, named, /*onnx_export=*/plan.workload != kWorkloadUserModel);
  for (const BuiltinBackend& b : builtins) {
    if (!named.contains(b.name)) continue;
    std::cerr << (b.Available()
                      ? fmt::format("  {:<17} {} {}\n", b.name, b.description, b.version)
                      : fmt::format("  {:<17} not available: {}\n", b.name, b.unavailable));
  }
  return builtins;
}

}  // namespace fwbench::pipeline
