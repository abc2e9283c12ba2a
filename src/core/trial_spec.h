#pragma once
// The trial spec: the one JSON document a trial process receives (docs/protocol.md).
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace fwbench {

struct TrialBudget {
  std::int64_t min_steps = 20;
  std::int64_t max_steps = 0;  // 0: no step limit
  double min_seconds = 1.0;
  double max_seconds = 60.0;  // the trial stops measuring here even if min_steps is not met
};

struct OptimizerSpec {
  std::string name = "sgd";
  double lr = 0.01;  // 0.05 made the first 20 losses jump (docs/parity.md, "A stable set-up")
  double momentum = 0.9;
  double weight_decay = 5e-4;
};

// The LLM LoRA workload (workload "llm_lora"): `weights` is then a Hugging Face checkpoint folder.
struct LlmSpec {
  std::filesystem::path tokens;        // packed token file (data/text_corpus.h), read by everyone
  std::filesystem::path adapter_init;  // PEFT folder with the initial adapter weights
  std::int64_t lora_rank = 8;
  double lora_alpha = 16.0;
  double lora_dropout = 0.0;
  std::vector<std::string> lora_targets = {"q_proj", "v_proj"};
  std::int64_t prompt_tokens = 64;  // inference: prompt length of each sequence
  std::int64_t decode_tokens = 32;  // inference: tokens generated after the prompt (greedy)
};

// Workload "user_model" (docs/your-model.md): the user's model file and the rows every backend
// feeds it, one tensor per input in `inputs_file` ([rows, shape…], the same for every backend).
struct UserModelInput {
  std::string name;
  std::string dtype;                // numpy's name: float32, int64, …
  std::vector<std::int64_t> shape;  // one row's shape: the batch dimension left out
};
struct UserModelSpec {
  std::filesystem::path file;  // empty for a PyTorch module
  std::string format;          // onnx, pytorch_module
  // A PyTorch module: "pkg.mod:factory", imported with import_path first on the path.
  std::string entry;
  std::filesystem::path import_path;
  std::filesystem::path inputs_file;
  std::vector<UserModelInput> inputs;
};

// Task "train_ddp" (docs/scale-out.md, "Data-parallel training"): `processes` ranks, spread over
// `hosts` network namespaces, each training on its slice of the global batch with the
// gradients averaged across ranks. A rank learns its number and its peers' addresses from the
// environment `fwbench ddp-launch` sets (FWBENCH_DDP_RANK, FWBENCH_DDP_ADDRS, FWBENCH_DDP_IFNAME).
struct DdpSpec {
  int processes = 1;
  int hosts = 1;
};

// Task "input_pipeline" (docs/data-pipelines.md): a framework's own input pipeline reads the
// training images, augments and batches them, and hands each batch to a no-op or to the model's
// training step. The randomness (order, crops, flips) is the shared seed schedule of
// docs/data.md, so every loader's batches can be checked bit for bit against the reference.
struct PipelineSpec {
  std::string loader = "cpp";          // cpp (fwbench's, LibTorch), dataloader, tf.data, grain
  int workers = 0;                     // loader threads or processes; 0: in the consuming thread
  std::string source = "cifar10-bin";  // or image-folder: images_dir/<class>/<file>.png|jpg
  std::filesystem::path images_dir;
  std::string model_step = "none";  // none (the pipeline alone) or train
  bool cache = false;               // tf.data: decode the image folder once (Dataset.cache)
  std::int64_t check_batches = 2;   // batches written for the bit-for-bit check
};

inline constexpr char kTaskTrain[] = "train";
inline constexpr char kTaskInfer[] = "infer";
inline constexpr char kTaskTrainDdp[] = "train_ddp";
inline constexpr char kTaskInputPipeline[] = "input_pipeline";
inline constexpr char kPipelineSourceCifar[] = "cifar10-bin";
inline constexpr char kPipelineSourceFolder[] = "image-folder";
// Training, on one process or data-parallel on several: losses, an optimizer, augmentation.
inline bool IsTrainingTask(std::string_view task) {
  return task == kTaskTrain || task == kTaskTrainDdp;
}

// The backend fwbench runs itself (`fwbench trial`, C++ on LibTorch): named once here, where
// the trial spec defaults to it, and used by its catalogue entry (orchestrate/builtin_workers)
// and as the parity gate's reference.
inline constexpr char kLibtorchBackend[] = "libtorch";

struct TrialSpec {
  std::string trial_id;
  std::string config_id;
  std::string workload = "image_classification";
  std::string task = "train";              // "train", "infer", "train_ddp" or "input_pipeline"
  std::string backend = kLibtorchBackend;  // what `fwbench trial` runs when a spec names none
  std::string mode = "eager";
  std::string device = "cpu";
  int threads = 1;
  std::string precision = "fp32";            // "fp32" or "bf16"
  std::string memory_format = "contiguous";  // "contiguous" or "channels_last"
  std::uint64_t seed = 1;
  // model
  std::string arch = "resnet18";
  std::string stem = "cifar";
  std::int64_t num_classes = 10;
  // data
  std::string data_format = "cifar10-bin";
  std::filesystem::path data_dir;
  bool augment = true;
  bool shuffle = true;
  std::filesystem::path weights;
  std::int64_t batch_size = 32;
  std::int64_t parity_batch = 8;  // first N test images whose logits an infer trial writes
  OptimizerSpec optimizer;
  TrialBudget budget;
  std::filesystem::path output_dir;
  // Compiled backends: also save the compiled model (TorchScript, …) into output_dir.
  bool save_model = false;
  // fwbench's own reference only (libtorch eager training): 0, or the seed of a rounding probe,
  // a run of the reference whose trainable parameters are nudged by one ulp (random direction)
  // before the first step and after every update. Its divergence from the reference is the
  // envelope of rounding-level differences the parity gate allows (docs/parity.md).
  std::uint64_t rounding_probe = 0;
  // Backends that run an exported model (ONNX Runtime): the ONNX file of `weights`.
  std::filesystem::path onnx_model;
  LlmSpec llm;               // workload "llm_lora" only
  UserModelSpec user_model;  // workload "user_model" only
  DdpSpec ddp;               // task "train_ddp" only
  PipelineSpec pipeline;     // task "input_pipeline" only
};

inline constexpr const char* kWorkloadImage = "image_classification";
inline constexpr const char* kWorkloadLlm = "llm_lora";
inline constexpr const char* kWorkloadUserModel = "user_model";

nlohmann::json ToJson(const TrialSpec& spec);
// Throws UsageError naming the field (and `source`, e.g. the spec file) when the JSON is wrong.
TrialSpec TrialSpecFromJson(const nlohmann::json& json, const std::string& source);
TrialSpec ReadTrialSpec(const std::filesystem::path& path);

}  // namespace fwbench
