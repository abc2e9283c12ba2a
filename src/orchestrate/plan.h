#pragma once
// A benchmark plan: what to run, how often and how long. Defaults live here; a TOML plan file
// overrides them, then command-line flags override the file. Every field has both a TOML key
// and a flag, declared once in PlanFields() so the parser, the flags and --help agree.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/trial_spec.h"

namespace fwbench {

// A backend served by an external worker program (Python, Node, …). "{spec}" in the command is
// replaced by the trial spec path.
struct WorkerCommand {
  std::vector<std::string> command;
  std::string mode = "eager";
};

// The LLM LoRA workload's settings (workload = "llm_lora"; docs/llm.md).
struct LlmPlan {
  std::string preset = "tiny";       // tiny, 125m, tinyllama-1.1b: generated from the seed
  std::filesystem::path checkpoint;  // a Hugging Face Llama folder instead of a preset
  std::filesystem::path corpus;      // .txt or .jsonl; empty: the synthetic corpus
  std::string tokenizer = "auto";    // auto (checkpoint's tokenizer.model, else bytes), bytes, or
                                     // a tokenizer.model path
  std::int64_t seq_len = 128;
  std::int64_t synthetic_documents = 2000;
  std::int64_t lora_rank = 8;
  double lora_alpha = 16.0;
  double lora_dropout = 0.0;  // > 0 draws different masks per framework: parity then fails
  std::vector<std::string> lora_targets = {"q_proj", "v_proj"};
  std::filesystem::path adapter;  // a PEFT folder to start from (e.g. a trained one)
  double lr = 2e-3;               // AdamW on the adapters
  double weight_decay = 0.0;
  std::int64_t prompt_tokens = 64;
  std::int64_t decode_tokens = 32;
};

// Task input_pipeline (docs/data-pipelines.md): each framework's own input pipeline on the
// training images, alone and feeding the training step.
struct PipelinePlan {
  // Loader threads or processes, one configuration each: 0 loads in the consuming thread.
  std::vector<std::int64_t> workers = {0, 1, 2};
  // none: the batches go to a no-op (what the pipeline delivers); train: to the training step
  // (whether the pipeline keeps the model fed).
  std::vector<std::string> model_steps = {"none", "train"};
  // A folder of images (DIR/<class>/<image>.png|.jpg, 32x32) decoded by each framework's own
  // decoders; empty: the run's CIFAR-10 binary files.
  std::filesystem::path images_dir;
  bool cache = false;              // tf.data: decode the folder once (Dataset.cache), "/cache"
  std::int64_t check_batches = 2;  // batches compared bit for bit with fwbench's reference
};

// The thread count a configuration's id leaves out ("…/b1" is one thread, "…/b1/t4" four).
inline constexpr int kDefaultThreads = 1;

struct Plan {
  std::string name = "default";
  std::string workload = "image_classification";  // or llm_lora, user_model
  std::uint64_t seed = 1;
  int trials = 3;  // trials per configuration, interleaved across configurations
  // Unrecorded trials per configuration before the measured ones, as hyperfine's --warmup: in
  // a default run without them the first trial of most configurations reached its first batch
  // 8–19% later than the other two (torch.compile compiled in 25.9 s against 21.4 s), reading
  // its libraries and its compiler from disk.
  int warmup_trials = 1;
  // Compute threads per trial, one configuration per entry; 0: the number of usable cores.
  // One by default: it is the count whose speed repeats from process to process on shared and
  // virtual machines. On the 2-vCPU VM fwbench is developed on, a trial on both cores ran at
  // 9.4 ms or 15.4 ms per step depending on the process (CV 14% over 12 runs of one spec),
  // one on a single core within 1% (docs/performance.md). Scaling is a sweep away: --threads 1,2.
  std::vector<std::int64_t> threads = {kDefaultThreads};
  // One compute pool per trial, other pools at 1, read back and checked (docs/workers.md).
  // false: the libraries' own defaults, unchecked: what fwbench did before issue 19, kept for
  // bench/thread_hygiene.sh and for seeing what a framework does out of the box.
  bool thread_hygiene = true;
  std::string device = "cpu";
  // "NAME" or "NAME/MODE": auto (every backend that runs here), libtorch (= libtorch/eager),
  // libtorch/compiled, a built-in worker (builtin_workers.h), or a [workers.NAME].
  std::vector<std::string> backends = {"auto"};
  std::vector<std::string> precisions = {"fp32"};            // fp32, bf16
  std::vector<std::string> memory_formats = {"contiguous"};  // contiguous, channels_last
  // Inference only by default: with the PyPI stacks (nine backends) training's compiles and
  // imports cost ~2.5 min per round on 2 cores, which 3 trials cannot fit into the default run's
  // 5 minutes. `--tasks train,infer` (or --quick, which shrinks the rest) adds training.
  std::vector<std::string> tasks = {"infer"};
  // Task train_ddp (docs/scale-out.md): one configuration per process count and host count
  // (hosts: network namespaces on this machine, joined by a virtual link; needs root). Each
  // process trains on train.batch_size samples a step with `threads` compute threads, so the
  // scaling efficiency N·T(1)/T(N) compares equal work per process.
  std::vector<std::int64_t> ddp_processes = {1, 2};
  std::vector<std::int64_t> ddp_hosts = {1};
  PipelinePlan pipeline;
  double trial_timeout_s = 300.0;
  std::filesystem::path out_dir = "results";
  double cv_warn = 0.10;  // coefficient of variation above which a result is flagged noisy

  std::string arch = "resnet18";
  std::string stem = "cifar";
  std::int64_t num_classes = 10;
  std::filesystem::path weights;  // empty: generated from the seed (torchvision's initialisation)
  // The user's own model (workload user_model, docs/your-model.md): a model file, and its
  // inputs as "NAME:DTYPE:DIMS" with the batch dimension first ("pixels:FP32:Nx3x32x32",
  // "ids:INT64:Nx128:0-30522" with the range of its values), where the model leaves a dimension
  // open or the plan wants other values than the defaults.
  std::filesystem::path model_file;
  // Or a PyTorch module: "pkg.mod:factory", a callable that returns the nn.Module, imported with
  // fwbench's working directory on the import path. Its inputs come from model_inputs.
  std::string model_py;
  std::vector<std::string> model_inputs;
  // Or input rows of the user's own instead of generated ones: "rows.safetensors" (a tensor per
  // input, [rows, …]), "rows.npy" (a model of one input) or "NAME=rows.npy".
  std::vector<std::string> model_input_files;

  std::filesystem::path data_dir;  // empty: the embedded synthetic CIFAR-10
  std::int64_t synthetic_train_per_file = 1000;
  std::int64_t synthetic_test = 1000;
  bool augment = true;

  // Batch sizes and budgets keep the default run (every built-in worker that runs here, 3
  // trials) within 5 minutes on 2 cores.
  std::int64_t train_batch_size = 16;
  // 20 steps: enough for MSER-5 here (warm-up is ~5 steps) and for the parity gate's 20 losses,
  // while the default plan stays within 5 minutes on 2 cores.
  TrialBudget train_budget{
      .min_steps = 20, .max_steps = 0, .min_seconds = 2.0, .max_seconds = 60.0};
  OptimizerSpec optimizer;

  // Batch 1 (latency), at least 20 steps and 2 s. With the eleven configurations of `auto`
  // here, batches 1 and 8 took 4 min 54 s at 3 trials (5 min 56 s before the Python workers
  // skipped interpreter teardown), too close to the default run's 5-minute budget (issue 18).
  // 2 s, not 0.5: a trial's median step ignores a slow spell shorter than half the trial, and
  // on the 2-core VM the p50 of 0.5 s trials varied by 17-32% (CV) across trials where 2 s
  // trials varied by 4-12% (issue 19; docs/performance.md).
  std::vector<std::int64_t> infer_batch_sizes = {1};
  TrialBudget infer_budget{
      .min_steps = 20, .max_steps = 0, .min_seconds = 2.0, .max_seconds = 60.0};
  std::int64_t parity_batch = 8;

  LlmPlan llm;

  std::map<std::string, WorkerCommand> workers;
  // `[workers.pytorch] python = "/path/to/venv/bin/python"`: the interpreter a built-in Python
  // worker runs in, instead of the environments install-deps makes (benchmark your own env).
  std::map<std::string, std::string> worker_pythons;
};

// One settable field of a plan.
struct PlanField {
  std::string key;   // TOML key, dotted: "train.batch_size"
  std::string flag;  // command-line flag: "--train-batch-size"
  std::string help;
  std::string type;  // "string", "integer", "number", "boolean", "list of strings", …
  std::function<void(Plan&, const std::string& text, const std::string& where)> set_from_text;
  std::function<std::string(const Plan&)> to_text;
};

const std::vector<PlanField>& PlanFields();

// Reads a TOML plan over `plan`. Unknown keys, wrong types and bad values throw UsageError
// naming the file, line and key.
void ApplyPlanFile(Plan& plan, const std::filesystem::path& path);
// Shrinks a plan to test size (--quick).
void ApplyQuick(Plan& plan);
// A plan that names a model file or module runs the user_model workload (unless it names the
// LLM one).
void ResolveWorkload(Plan& plan);
// Checks cross-field rules (known tasks, positive sizes, …); throws UsageError.
void ValidatePlan(const Plan& plan);

nlohmann::json ToJson(const Plan& plan);
// The effective plan as TOML, written next to the results so a run can be repeated.
std::string ToToml(const Plan& plan);

}  // namespace fwbench
