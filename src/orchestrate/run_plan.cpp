#include "orchestrate/run_plan.h"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <fstream>

#include "analysis/parity.h"
#include "core/clock.h"
#include "core/env_fingerprint.h"
#include "core/error.h"
#include "core/protocol.h"
#include "core/utc_time.h"
#include "orchestrate/cpu_watch.h"
#include "orchestrate/ddp_launch.h"
#include "orchestrate/event_log.h"
#include "orchestrate/process.h"
#include "orchestrate/run_progress.h"
#include "orchestrate/thread_env.h"
#include "orchestrate/trial_monitor.h"

namespace fwbench {

namespace {

std::atomic<bool> g_stop{false};

std::string Slug(const std::string& id) {
  std::string s = id;
  for (char& c : s) {
    if (c == '/') c = '-';
  }
  return s;
}

void WriteText(const std::filesystem::path& path, const std::string& text) {
  errno = 0;
  std::ofstream out(path);
  out << text;
  out.flush();
  if (!out) throw WriteError(WriteErrorMessage(path.string(), errno));
}

}  // namespace

void RequestStop() { g_stop.store(true); }
bool StopRequested() { return g_stop.load(); }

std::vector<std::string> KnownBackends(const Plan& plan) {
  std::vector<std::string> known = {"auto"};
  for (const BuiltinBackend& b : BackendCatalogue()) known.push_back(b.name);
  for (const auto& [name, worker] : plan.workers) known.push_back(name);
  return known;
}

std::vector<std::string> SubstituteSpec(const std::vector<std::string>& command,
                                        const std::filesystem::path& spec) {
  std::vector<std::string> argv;
  for (std::string arg : command) {
    for (auto at = arg.find("{spec}"); at != std::string::npos; at = arg.find("{spec}", at)) {
      arg.replace(at, 6, spec.string());
      at += spec.string().size();
    }
    argv.push_back(std::move(arg));
  }
  return argv;
}

std::set<std::string> BuiltinWorkersNamedBy(const Plan& plan) {
  const auto workers = BuiltinWorkerCatalogue();
  const auto catalogue = BackendCatalogue();
  std::set<std::string> names;
  for (const std::string& entry : plan.backends) {
    const auto slash = entry.find('/');
    const std::string name = entry.substr(0, slash);
    if (plan.workers.contains(name)) continue;
    if (name == "auto") {
      for (const BuiltinBackend& b : workers) names.insert(b.name);
      return names;
    }
    for (const BuiltinBackend& b : catalogue) {
      if (b.name != name) continue;
      const std::string mode =
          slash == std::string::npos ? b.modes.front() : entry.substr(slash + 1);
      if (const auto it = b.mode_uses_worker.find(mode); it != b.mode_uses_worker.end()) {
        names.insert(it->second);
      }
      // The backends fwbench runs itself are not probed.
      const bool worker = std::any_of(workers.begin(), workers.end(),
                                      [&](const BuiltinBackend& w) { return w.name == name; });
      if (worker) names.insert(name);
      // The ONNX backends run the export of fwbench's model, which the PyTorch worker makes; a
      // user's model is its own file.
      if (b.needs_onnx && plan.workload != kWorkloadUserModel) names.insert("pytorch");
    }
  }
  return names;
}

nlohmann::json ToJson(const Configuration& c) {
  nlohmann::json j = {{"id", c.id},
                      {"backend", c.backend},
                      {"mode", c.mode},
                      {"task", c.task},
                      {"batch_size", c.batch_size},
                      {"precision", c.precision},
                      {"memory_format", c.memory_format},
                      {"threads", c.threads},
                      {"from_auto", c.from_auto},
                      {"command", c.command}};
  if (c.task == kTaskTrainDdp) {
    j["ddp_processes"] = c.ddp_processes;
    j["ddp_hosts"] = c.ddp_hosts;
  }
  if (c.task == kTaskInputPipeline) {
    j["loader"] = c.loader;
    j["loader_workers"] = c.loader_workers;
    j["model_step"] = c.pipeline_trains ? "train" : "none";
    j["pipeline_cache"] = c.pipeline_cache;
  }
  return j;
}

namespace {

// One backend/mode the plan asks for, resolved to how it runs.
struct BackendEntry {
  std::string backend;
  std::string mode;
  std::vector<std::string> command;
  const BuiltinBackend* builtin = nullptr;  // null: a [workers.NAME]
  bool from_auto = false;
};

const BuiltinBackend* FindBuiltin(const std::vector<BuiltinBackend>& builtins,
                                  const std::string& name) {
  for (const BuiltinBackend& b : builtins) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

// Why a built-in backend cannot run mode × task of the workload here, or "".
std::string BuiltinRefusal(const BuiltinBackend& b, const std::string& mode,
                           const std::string& task, const std::string& workload) {
  if (std::string why = b.WorkloadRefusal(workload, mode); !why.empty()) return why;
  if (!b.RunsTask(task)) {
    return task == kTaskTrainDdp ? fmt::format("{} does not run train_ddp", b.name)
                                 : fmt::format("{} runs {} only", b.name, fmt::join(b.tasks, ", "));
  }
  if (const auto it = b.task_modes.find(task);
      it != b.task_modes.end() &&
      std::find(it->second.begin(), it->second.end(), mode) == it->second.end()) {
    return fmt::format("{} runs {} in mode{} {} only", b.name, task,
                       it->second.size() == 1 ? "" : "s", fmt::join(it->second, ", "));
  }
  if (task == kTaskTrainDdp &&
      std::find(b.ddp_modes.begin(), b.ddp_modes.end(), mode) == b.ddp_modes.end()) {
    return fmt::format("{} runs train_ddp in mode{} {} only", b.name,
                       b.ddp_modes.size() == 1 ? "" : "s", fmt::join(b.ddp_modes, ", "));
  }
  for (const std::string& key : {mode, fmt::format("{}/{}", mode, task)}) {
    if (const auto it = b.mode_unavailable.find(key); it != b.mode_unavailable.end()) {
      return it->second;
    }
  }
  return "";
}

std::vector<BackendEntry> ResolveBackends(const Plan& plan,
                                          const std::vector<BuiltinBackend>& catalogue) {
  std::vector<BackendEntry> out;
  for (const std::string& entry : plan.backends) {
    const auto slash = entry.find('/');
    const std::string backend = entry.substr(0, slash);
    std::string mode = slash == std::string::npos ? "" : entry.substr(slash + 1);
    if (backend.empty() || (slash != std::string::npos && mode.empty()) ||
        mode.find_first_of("/ ") != std::string::npos) {
      throw UsageError(
          fmt::format("plan field backends: '{}' is malformed (expected NAME or NAME/MODE, e.g. "
                      "libtorch/compiled)",
                      entry));
    }
    if (backend == "auto" && !plan.workers.contains("auto")) {
      if (!mode.empty()) {
        throw UsageError("plan field backends: 'auto' takes no mode (it picks the modes)");
      }
      for (const BuiltinBackend& b : catalogue) {
        if (!b.Available()) continue;
        // A user's model runs on every runtime that implements the workload, in every mode
        // that runs it (PyTorch: eager, TorchScript, torch.compile); one that cannot load the
        // model stays in, to be left out with its reason (a portability finding).
        std::vector<std::string> modes = b.auto_modes;
        if (plan.workload == kWorkloadUserModel) {
          if (std::find(b.workloads.begin(), b.workloads.end(), plan.workload) ==
              b.workloads.end()) {
            continue;
          }
          const auto listed = b.workload_modes.find(plan.workload);
          modes = listed != b.workload_modes.end() ? listed->second
                                                   : std::vector<std::string>{b.modes.front()};
        }
        for (const std::string& m : modes) out.push_back({b.name, m, b.CommandFor(m), &b, true});
      }
      continue;
    }
    if (const auto it = plan.workers.find(backend); it != plan.workers.end()) {
      if (mode.empty()) mode = it->second.mode;
      if (mode.empty() || mode.find_first_of("/ ") != std::string::npos) {
        throw UsageError(fmt::format(
            "plan field workers.{}.mode: '{}' is empty or malformed (a word such as eager)",
            backend, mode));
      }
      out.push_back({backend, mode, it->second.command});
    } else if (const BuiltinBackend* b = FindBuiltin(catalogue, backend)) {
      // Named without a mode: its default, or for a workload that runs in fewer modes (a
      // user's model in TensorFlow: function, xla), the first of those.
      if (const auto listed = b->workload_modes.find(plan.workload);
          mode.empty() && listed != b->workload_modes.end() && !listed->second.empty()) {
        mode = listed->second.front();
      }
      // A plan of one task that runs in fewer modes (input_pipeline): that task's mode.
      if (mode.empty() && plan.tasks.size() == 1) {
        if (const auto task_modes = b->task_modes.find(plan.tasks.front());
            task_modes != b->task_modes.end() && !task_modes->second.empty()) {
          mode = task_modes->second.front();
        }
      }
      if (mode.empty()) mode = b->modes.front();
      if (!b->RunsMode(mode)) {
        throw UsageError(
            fmt::format("plan field backends: {} has no mode '{}' (entry '{}'); modes: {}", backend,
                        mode, entry, fmt::join(b->modes, ", ")));
      }
      if (!b->Available()) {
        throw UsageError(
            fmt::format("plan field backends: {} cannot run on this machine: {} "
                        "(`fwbench doctor` lists every backend and why)",
                        backend, b->unavailable));
      }
      out.push_back({backend, mode, b->CommandFor(mode), b});
    } else {
      throw UsageError(fmt::format(
          "plan field backends: unknown backend '{}'; known: {} (add a [workers.{}] table with a "
          "command to run another worker)",
          backend, fmt::join(KnownBackends(plan), ", "), backend));
    }
  }
  return out;
}

// train_ddp: every (processes, hosts) of the plan where hosts divide processes; other tasks
// one layout, (1, 1).
std::vector<std::pair<int, int>> DdpLayouts(const Plan& plan, const std::string& task) {
  if (task != kTaskTrainDdp) return {{1, 1}};
  std::vector<std::pair<int, int>> out;
  for (std::int64_t hosts : plan.ddp_hosts) {
    for (std::int64_t processes : plan.ddp_processes) {
      if (processes >= hosts && processes % hosts == 0) {
        out.emplace_back(static_cast<int>(processes), static_cast<int>(hosts));
      }
    }
  }
  return out;
}

// input_pipeline: one variant per loader worker count × model step (× cache for tf.data on a
// folder of images); other tasks one, the default.
struct PipelineVariant {
  int workers = 0;
  bool trains = false;
  bool cache = false;
};
std::vector<PipelineVariant> PipelineVariants(const Plan& plan, const std::string& task,
                                              const std::string& loader) {
  if (task != kTaskInputPipeline) return {PipelineVariant{}};
  std::vector<PipelineVariant> out;
  std::vector<bool> caches = {false};
  if (plan.pipeline.cache && loader == "tf.data" && !plan.pipeline.images_dir.empty()) {
    caches.push_back(true);
  }
  for (const std::string& step : plan.pipeline.model_steps) {
    for (std::int64_t workers : plan.pipeline.workers) {
      for (bool cache : caches) {
        out.push_back({static_cast<int>(workers), step == "train", cache});
      }
    }
  }
  return out;
}

// A train_ddp trial is `fwbench ddp-launch`, which starts the backend's command once per rank.
std::vector<std::string> DdpLaunchCommand(const std::filesystem::path& self_exe,
                                          const Configuration& c,
                                          const std::vector<std::string>& command) {
  std::vector<std::string> out = {self_exe.string(),
                                  "ddp-launch",
                                  "--processes",
                                  std::to_string(c.ddp_processes),
                                  "--hosts",
                                  std::to_string(c.ddp_hosts),
                                  "--log-dir",
                                  kTrialDirPlaceholder,
                                  "--"};
  out.insert(out.end(), command.begin(), command.end());
  return out;
}

}  // namespace

std::vector<Configuration> ExpandConfigurations(const Plan& plan,
                                                const std::filesystem::path& self_exe,
                                                int usable_cores,
                                                const std::vector<BuiltinBackend>& builtins,
                                                std::vector<std::string>* left_out) {
  // 0 stands for every usable core: on a machine of that many it names the same count twice.
  std::vector<int> thread_counts;
  for (std::int64_t t : plan.threads) {
    const int count = t > 0 ? static_cast<int>(t) : usable_cores;
    if (std::find(thread_counts.begin(), thread_counts.end(), count) != thread_counts.end()) {
      throw UsageError(fmt::format(
          "plan field threads: {} names {} thread{} twice here (0 means all {} usable cores); "
          "list each count once",
          fmt::join(plan.threads, ", "), count, count == 1 ? "" : "s", usable_cores));
    }
    thread_counts.push_back(count);
  }
  // LibTorch is in the catalogue unless the caller put its own entry there (with its rules).
  std::vector<BuiltinBackend> catalogue = builtins;
  if (FindBuiltin(catalogue, std::string(kLibtorchBackend)) == nullptr) {
    catalogue.insert(catalogue.begin(), LibtorchCatalogueEntry(self_exe, builtins));
  }
  std::vector<Configuration> configs;
  for (const BackendEntry& entry : ResolveBackends(plan, catalogue)) {
    std::size_t made = 0;
    std::string refusal;
    for (const std::string& task : plan.tasks) {
      if (entry.builtin != nullptr) {
        // A worker skips what it cannot run; asked for by name, it must run something.
        if (std::string why = BuiltinRefusal(*entry.builtin, entry.mode, task, plan.workload);
            !why.empty()) {
          // Named beside other tasks (tensorflow = tensorflow/eager for train), a backend whose
          // pipeline runs in another mode is left out aloud, not silently.
          if (task == kTaskInputPipeline && !entry.from_auto && left_out != nullptr &&
              entry.builtin->RunsTask(task)) {
            left_out->push_back(fmt::format("{}/{}/{}: {}", entry.backend, entry.mode, task, why));
          }
          refusal = std::move(why);
          continue;
        }
      }
      if (task == kTaskInputPipeline && PipelineLoaderFor(entry.backend).empty()) {
        throw UsageError(fmt::format(
            "plan field backends: {} has no input pipeline fwbench knows (input_pipeline runs "
            "libtorch, pytorch, tensorflow and jax: fwbench's C++ loader, DataLoader, tf.data, "
            "Grain)",
            entry.backend));
      }
      std::vector<std::int64_t> sizes = IsTrainingTask(task) || task == kTaskInputPipeline
                                            ? std::vector<std::int64_t>{plan.train_batch_size}
                                            : plan.infer_batch_sizes;
      for (std::int64_t b : sizes) {
        for (const std::string& precision : plan.precisions) {
          for (const std::string& format : plan.memory_formats) {
            if (entry.builtin != nullptr) {
              const auto& ps = entry.builtin->precisions;
              const auto& fs = entry.builtin->memory_formats;
              if (std::find(ps.begin(), ps.end(), precision) == ps.end() ||
                  std::find(fs.begin(), fs.end(), format) == fs.end()) {
                refusal = fmt::format("{} runs precisions {} and memory formats {}", entry.backend,
                                      fmt::join(ps, ", "), fmt::join(fs, ", "));
                continue;
              }
            }
            for (int threads : thread_counts) {
              // The pipeline alone uses no compute threads: measured at the first count only.
              const bool pipeline_alone_again =
                  task == kTaskInputPipeline && threads != thread_counts.front();
              for (const auto& [processes, hosts] : DdpLayouts(plan, task)) {
                for (const PipelineVariant& variant :
                     PipelineVariants(plan, task, PipelineLoaderFor(entry.backend))) {
                  if (pipeline_alone_again && !variant.trains) continue;
                  Configuration c;
                  c.backend = entry.backend;
                  c.mode = entry.mode;
                  c.task = task;
                  c.batch_size = b;
                  c.precision = precision;
                  c.memory_format = format;
                  c.threads = threads;
                  c.command = entry.command;
                  c.needs_onnx = entry.builtin != nullptr && entry.builtin->needs_onnx;
                  c.from_auto = entry.from_auto;
                  c.id = fmt::format("{}/{}/{}/b{}", c.backend, c.mode, task, b);
                  if (precision != "fp32") c.id += "/" + precision;
                  if (format != "contiguous") c.id += "/" + format;
                  if (c.threads != kDefaultThreads) c.id += fmt::format("/t{}", c.threads);
                  if (task == kTaskInputPipeline) {
                    c.loader = PipelineLoaderFor(entry.backend);
                    c.loader_workers = variant.workers;
                    c.pipeline_trains = variant.trains;
                    c.pipeline_cache = variant.cache;
                    c.id += fmt::format("/w{}", variant.workers);
                    // Another source is another measurement: runs compare ids across runs.
                    if (!plan.pipeline.images_dir.empty()) c.id += "/images";
                    if (variant.cache) c.id += "/cache";
                    if (variant.trains) c.id += "/train";
                    // A loader beside the training step on the same cores would measure the
                    // fight between them, not the pipeline; alone, more workers than cores
                    // would measure the scheduler. (Alone, the consumer beside the workers is
                    // the pipeline's own design: the CPU watch flags any contention.)
                    if (const int cores = variant.trains ? BusyCores(c) : variant.workers;
                        cores > usable_cores) {
                      const std::string why =
                          fmt::format("{} loader worker{}{} need {} cores; {} are usable",
                                      variant.workers, variant.workers == 1 ? "" : "s",
                                      variant.trains ? fmt::format(" beside {} training thread{}",
                                                                   threads, threads == 1 ? "" : "s")
                                                     : "",
                                      cores, usable_cores);
                      if (left_out != nullptr) left_out->push_back(c.id + ": " + why);
                      refusal = why;
                      continue;
                    }
                  }
                  if (task == kTaskTrainDdp) {
                    c.ddp_processes = processes;
                    c.ddp_hosts = hosts;
                    c.id += fmt::format("/p{}", processes);
                    if (hosts > 1) c.id += fmt::format("/h{}", hosts);
                    c.command = DdpLaunchCommand(self_exe, c, c.command);
                    std::string why_not;
                    if (hosts > 1) why_not = DdpHostsUnavailableReason(hosts);
                    if (!why_not.empty()) {
                      if (left_out != nullptr) left_out->push_back(c.id + ": " + why_not);
                      refusal = why_not;
                      continue;
                    }
                    // Ranks beyond the cores would measure the harness, not the framework.
                    if (processes * threads > usable_cores) {
                      const std::string why = fmt::format(
                          "{} processes x {} thread{} is more compute threads than the {} usable "
                          "cores",
                          processes, threads, threads == 1 ? "" : "s", usable_cores);
                      if (left_out != nullptr) left_out->push_back(c.id + ": " + why);
                      refusal = why;
                      continue;
                    }
                  }
                  if (entry.builtin != nullptr) {
                    const auto& saving = entry.builtin->saving_modes;
                    c.saves_model = task == "infer" && std::find(saving.begin(), saving.end(),
                                                                 entry.mode) != saving.end();
                    if (entry.builtin->refusal) {
                      if (std::string why = entry.builtin->refusal(plan.workload, entry.mode, task,
                                                                   precision, format);
                          !why.empty()) {
                        if (left_out != nullptr) left_out->push_back(c.id + ": " + why);
                        refusal = std::move(why);
                        continue;
                      }
                    }
                  }
                  configs.push_back(std::move(c));
                  ++made;
                }
              }
            }
          }
        }
      }
    }
    // A runtime that cannot load the user's model, nor a conversion of it, is a finding (a row
    // of the portability matrix), named or not; the run goes on with the others.
    const bool cannot_load = entry.builtin != nullptr && !entry.builtin->model_refusal.empty();
    if (made == 0 && cannot_load && left_out != nullptr) {
      left_out->push_back(fmt::format("{}/{}: {}", entry.backend, entry.mode, refusal));
    }
    if (made == 0 && !entry.from_auto && !cannot_load) {
      throw UsageError(fmt::format("plan field backends: {}/{} has nothing to run for tasks {}: {}",
                                   entry.backend, entry.mode, fmt::join(plan.tasks, ", "),
                                   refusal));
    }
  }
  // Two entries can name the same configuration (libtorch and libtorch/eager).
  for (std::size_t i = 0; i < configs.size(); ++i) {
    for (std::size_t j = i + 1; j < configs.size(); ++j) {
      if (configs[i].id == configs[j].id) {
        throw UsageError(
            fmt::format("plan field backends: configuration {} appears twice (\"libtorch\" means "
                        "\"libtorch/eager\", \"auto\" includes libtorch eager and compiled and "
                        "every available built-in worker); list each backend/mode once",
                        configs[i].id));
      }
    }
  }
  return configs;
}

std::filesystem::path CreateRunDir(const std::filesystem::path& out_dir, const std::string& name) {
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) {
    throw UsageError(fmt::format("--out {}: cannot create the results folder: {}", out_dir.string(),
                                 ec.message()));
  }
  const std::string base = UtcTimestamp("%Y%m%d-%H%M%S") + "-" + Slug(name);
  for (int n = 0; n < 1000; ++n) {
    std::filesystem::path dir = out_dir / (n == 0 ? base : fmt::format("{}-{}", base, n));
    if (std::filesystem::create_directory(dir, ec)) return dir;
  }
  throw std::runtime_error(fmt::format("cannot create a run folder under {}", out_dir.string()));
}

TrialSpec MakeTrialSpec(const Plan& plan, const Configuration& config, const RunInputs& inputs,
                        int rep, const std::string& trial_id,
                        const std::filesystem::path& trial_dir) {
  TrialSpec spec;
  spec.trial_id = trial_id;
  spec.config_id = config.id;
  spec.task = config.task;
  spec.backend = config.backend;
  spec.mode = config.mode;
  spec.device = plan.device;
  spec.threads = config.threads;
  spec.precision = config.precision;
  spec.memory_format = config.memory_format;
  // One TorchScript file per configuration is enough to check and to deploy.
  spec.save_model = rep == 0 && config.saves_model;
  spec.seed = plan.seed;
  spec.arch = plan.arch;
  spec.stem = plan.stem;
  spec.num_classes = plan.num_classes;
  spec.data_dir = inputs.data_dir;
  // An input pipeline reads the training images as training does.
  const bool train = IsTrainingTask(config.task) || config.task == kTaskInputPipeline;
  spec.augment = plan.augment && train;
  spec.shuffle = train;
  spec.weights = inputs.weights;
  if (config.needs_onnx) spec.onnx_model = inputs.onnx_model;
  spec.batch_size = config.batch_size;
  spec.parity_batch = plan.parity_batch;
  spec.optimizer = plan.optimizer;
  spec.budget = train ? plan.train_budget : plan.infer_budget;
  if (config.task == kTaskTrainDdp) {
    // Every rank must take the same steps (a collective waits for all of them): a step count
    // fixed before the start, with the trial timeout as the only time limit.
    spec.ddp = {.processes = config.ddp_processes, .hosts = config.ddp_hosts};
    const std::int64_t steps = std::max(plan.train_budget.min_steps, plan.train_budget.max_steps);
    spec.budget = {.min_steps = steps,
                   .max_steps = steps,
                   .min_seconds = 0.0,
                   .max_seconds = plan.trial_timeout_s};
  }
  if (config.task == kTaskInputPipeline) {
    if (spec.budget.max_steps == 0) {
      spec.budget.max_steps = std::max(kPipelineMaxSteps, spec.budget.min_steps);
    }
    spec.pipeline = {
        .loader = config.loader,
        .workers = config.loader_workers,
        .source = plan.pipeline.images_dir.empty() ? kPipelineSourceCifar : kPipelineSourceFolder,
        .images_dir = plan.pipeline.images_dir.empty()
                          ? std::filesystem::path()
                          : std::filesystem::absolute(plan.pipeline.images_dir),
        .model_step = config.pipeline_trains ? "train" : "none",
        .cache = config.pipeline_cache,
        .check_batches = rep == 0 ? plan.pipeline.check_batches : 0};
  }
  spec.output_dir = trial_dir;
  spec.workload = plan.workload;
  if (plan.workload == kWorkloadLlm) {
    // The packed token file is the data; the checkpoint folder is the weights.
    spec.data_format = "tokens";
    spec.data_dir = inputs.tokens.parent_path();
    spec.augment = false;
    spec.llm = {.tokens = inputs.tokens,
                .adapter_init = inputs.adapter_init,
                .lora_rank = plan.llm.lora_rank,
                .lora_alpha = plan.llm.lora_alpha,
                .lora_dropout = plan.llm.lora_dropout,
                .lora_targets = plan.llm.lora_targets,
                .prompt_tokens = plan.llm.prompt_tokens,
                .decode_tokens = plan.llm.decode_tokens};
    spec.optimizer = {
        .name = "adamw", .lr = plan.llm.lr, .momentum = 0.0, .weight_decay = plan.llm.weight_decay};
    // The trained adapters of the first repetition, for PEFT and the merge command.
    spec.save_model = rep == 0 && config.task == "train";
  }
  if (plan.workload == kWorkloadUserModel) {
    // The model file holds its weights; the shared input rows are the data.
    const auto loads = inputs.user_model_by_backend.find(config.backend);
    spec.user_model =
        loads != inputs.user_model_by_backend.end() ? loads->second : inputs.user_model;
    spec.data_format = "rows";
    spec.data_dir = inputs.user_model.inputs_file.parent_path();
    spec.augment = false;
    spec.shuffle = false;
    spec.onnx_model.clear();
  }
  return spec;
}

namespace {

// The run's trials: each scheduled first (spec written, command made), then the whole schedule
// handed to the executor and run in order, each record appended and synced before the next
// trial's record.
class TrialRunner {
 public:
  TrialRunner(const Plan& plan, const std::filesystem::path& run_dir, RunProgress& bar,
              RunTotals& totals, TrialExecutor& executor)
      : plan_(plan),
        executor_(executor),
        run_dir_(run_dir),
        events_(run_dir / "events.jsonl"),
        trials_(run_dir / "trials.jsonl"),
        bar_(bar),
        totals_(totals) {}

  // `extra` goes into the trial's record (a rounding probe's role and seed).
  void Schedule(const Configuration& config, const TrialSpec& spec, int rep, int reps,
                const std::string& label, const nlohmann::json& extra) {
    const std::filesystem::path spec_path = spec.output_dir / "spec.json";
    Pending p{
        .config = &config,
        .trial_id = spec.trial_id,
        .threads = spec.threads,
        .loader_workers = config.task == kTaskInputPipeline ? config.loader_workers : 0,
        // A rounding probe runs other threads than its configuration's.
        .cpu_threads = spec.task == kTaskInputPipeline
                           ? BusyCores(config)
                           : spec.threads * (spec.task == kTaskTrainDdp ? spec.ddp.processes : 1),
        .spec_path = spec_path,
        .spec_text = ToJson(spec).dump(2) + "\n",
        .rep = rep,
        .reps = reps,
        .label = label,
        .extra = extra,
        .options = {}};
    p.options.argv = SubstituteSpec(config.command, spec_path);
    // ddp-launch keeps the other ranks' events and logs beside the trial's own.
    for (std::string& arg : p.options.argv) {
      if (arg == kTrialDirPlaceholder) arg = spec.output_dir.string();
    }
    p.options.env = TrialThreadEnvironment(spec.threads, plan_.thread_hygiene);
    p.options.stderr_path = spec.output_dir / "stderr.log";
    p.options.timeout_s = plan_.trial_timeout_s;
    pending_.push_back(std::move(p));
  }

  std::size_t scheduled() const { return pending_.size(); }

  void RunAll() {
    // A batch system gets every spec before the first task starts; here each is written just
    // before its trial, so that a disk that fills up stops the run at the next trial.
    const bool upfront = executor_.TakesSchedule();
    if (upfront) {
      std::vector<ScheduledTrial> schedule;
      schedule.reserve(pending_.size());
      for (const Pending& p : pending_) {
        WriteText(p.spec_path, p.spec_text);
        schedule.push_back({p.trial_id, p.options});
      }
      executor_.Submit(run_dir_, schedule);
    }
    for (const Pending& p : pending_) {
      // A stopping run still records the trials that ended elsewhere meanwhile, in order.
      if (g_stop.load() && !executor_.NextHasEnded()) break;
      if (!upfront) WriteText(p.spec_path, p.spec_text);
      try {
        Run(p);
      } catch (...) {
        executor_.Cancel();
        throw;
      }
    }
    if (g_stop.load()) executor_.Cancel();
  }

 private:
  struct Pending {
    const Configuration* config = nullptr;
    std::string trial_id;
    int threads = 1;
    int loader_workers = 0;
    int cpu_threads = 1;
    std::filesystem::path spec_path;
    std::string spec_text;
    int rep = 0;
    int reps = 0;
    std::string label;
    nlohmann::json extra;
    ProcessOptions options;
  };

  void Run(const Pending& p) {
    const Configuration& config = *p.config;
    // A trial recorded after the stop ended by itself elsewhere: its failure is its own.
    const bool stopping_before = g_stop.load();
    bar_.TrialStarted(++index_, p.label, p.rep + 1, p.reps);
    TrialMonitor monitor(p.trial_id, &events_, p.threads, plan_.thread_hygiene, p.loader_workers);
    CpuWatch cpu(cores_, p.cpu_threads);
    const ProcessResult result = executor_.Run(p.options, [&](std::string_view line) {
      const bool ok = monitor.OnLine(line);
      if (ok && !monitor.events().empty()) {
        const nlohmann::json& e = monitor.events().back();
        bar_.OnEvent(e);
        if (e["event"] == "step") {
          if (e["i"] == 0) {
            cpu.OnFirstStep(executor_.RunningPid(), MonotonicNs());
          } else {
            cpu.OnStep(MonotonicNs());
          }
        }
      }
      return ok;
    });
    std::optional<std::string> failure =
        ClassifyTrial(result, monitor, plan_.trial_timeout_s, StderrTail(p.options.stderr_path));
    // Stopped by the user, not failed: it measured nothing either way, and is left out of the
    // results (the run shows as incomplete) rather than counted against its configuration.
    const bool interrupted = failure && !stopping_before && g_stop.load();
    if (interrupted) failure = "interrupted: the run was stopped (Ctrl-C or SIGTERM)";

    nlohmann::json record = {
        {"trial", p.trial_id},
        {"config", config.id},
        {"repetition", p.rep},
        {"backend", config.backend},
        {"mode", config.mode},
        {"task", config.task},
        {"batch_size", config.batch_size},
        {"precision", config.precision},
        {"memory_format", config.memory_format},
        {"threads", config.threads},
        {"ddp_processes", config.ddp_processes},
        {"ddp_hosts", config.ddp_hosts},
        {"status", interrupted ? "interrupted"
                   : failure   ? "failed"
                               : "ok"},
        {"reason", failure ? *failure : ""},
        {"spawn_ns", result.spawn_ns},
        {"exit_ns", result.exit_ns},
        {"exit_code", result.exit_code},
        {"signal", result.term_signal},
        {"timed_out", result.timed_out},
        {"steps", monitor.steps()},
        {"max_rss_bytes", result.max_rss_bytes},
        {"peak_rss_bytes", result.peak_rss_bytes},
        {"user_cpu_s", result.user_cpu_s},
        {"sys_cpu_s", result.sys_cpu_s},
        {"cpu_during_steps", cpu.Summary()},
        {"spec", std::filesystem::relative(p.spec_path, run_dir_).string()},
        {"stderr", std::filesystem::relative(p.options.stderr_path, run_dir_).string()},
    };
    record.update(p.extra);
    record.update(executor_.LastPlace());
    trials_.Append(record);
    events_.Sync();
    trials_.Sync();
    const double wall_s = static_cast<double>(result.exit_ns - result.spawn_ns) * 1e-9;
    if (interrupted) {
      ++totals_.trials_interrupted;
      bar_.TrialEnded(fmt::format("interrupted after {:.1f} s", wall_s));
    } else if (failure) {
      ++totals_.trials_failed;
      bar_.TrialEnded(fmt::format("FAILED after {:.1f} s: {}", wall_s, *failure));
    } else {
      ++totals_.trials_ok;
      bar_.TrialEnded(fmt::format("ok, {} steps in {:.1f} s", monitor.steps(), wall_s));
    }
  }

  const Plan& plan_;
  TrialExecutor& executor_;
  std::filesystem::path run_dir_;
  JsonLinesAppender events_;
  JsonLinesAppender trials_;
  RunProgress& bar_;
  RunTotals& totals_;
  std::vector<Pending> pending_;
  int index_ = 0;
  const int cores_ = UsableCoreCount();
};

}  // namespace

int RoundingProbeThreads(int threads) { return threads == 1 ? 2 : 1; }

int BusyCores(const Configuration& c) {
  if (c.task == kTaskTrainDdp) return c.threads * c.ddp_processes;
  if (c.task != kTaskInputPipeline) return c.threads;
  // Alone, the consuming thread receives what the workers made (a DataLoader's main process
  // unpickles each batch: 1.4 cores busy with one worker here); feeding training, it is the
  // training thread.
  if (!c.pipeline_trains) return c.loader_workers == 0 ? 1 : c.loader_workers + 1;
  return c.threads + c.loader_workers;
}

bool IsParityReference(const Configuration& c) {
  return c.backend == kLibtorchBackend && c.mode == "eager" && c.precision == "fp32" &&
         c.memory_format == "contiguous";
}

RunTotals RunTrials(const Plan& plan, const std::vector<Configuration>& configs,
                    const RunInputs& inputs, const nlohmann::json& env,
                    const std::filesystem::path& run_dir, std::ostream& progress,
                    bool live_progress) {
  LocalExecutor executor;
  return RunTrials(plan, configs, inputs, env, run_dir, executor, progress, live_progress);
}

RunTotals RunTrials(const Plan& plan, const std::vector<Configuration>& configs,
                    const RunInputs& inputs, const nlohmann::json& env,
                    const std::filesystem::path& run_dir, TrialExecutor& executor,
                    std::ostream& progress, bool live_progress) {
  WriteText(run_dir / "plan.toml", ToToml(plan));
  WriteText(run_dir / "env.json", env.dump(2) + "\n");
  // Reference training configurations, probed only when some other configuration trains: the
  // probes calibrate the gate for a comparison, and a run of the reference alone has none.
  std::vector<const Configuration*> probed;
  const bool compared = std::any_of(configs.begin(), configs.end(), [](const Configuration& c) {
    return IsTrainingTask(c.task) && !IsParityReference(c);
  });
  for (const Configuration& c : configs) {
    if (compared && IsTrainingTask(c.task) && IsParityReference(c)) probed.push_back(&c);
  }
  nlohmann::json manifest = {
      {"schema_version", 1},
      {"run_id", run_dir.filename().string()},
      {"started_utc", UtcTimestamp("%Y-%m-%dT%H:%M:%SZ")},
      {"plan", ToJson(plan)},
      {"data_dir", inputs.data_dir.string()},
      {"weights", inputs.weights.string()},
      {"workload", plan.workload},
      {"configurations", nlohmann::json::array()},
      {"rounding_probes", probed.empty() ? 0 : kRoundingProbes},
  };
  if (plan.workload == kWorkloadUserModel) manifest["user_model"] = inputs.user_model_facts;
  if (plan.workload == kWorkloadLlm) {
    manifest["llm"] = inputs.llm_facts;
    manifest["llm"]["tokens"] = inputs.tokens.string();
  }
  for (const Configuration& c : configs) {
    manifest["configurations"].push_back(ToJson(c));
  }
  WriteText(run_dir / "manifest.json", manifest.dump(2) + "\n");

  RunTotals totals;
  const int total = (plan.warmup_trials + plan.trials) * static_cast<int>(configs.size()) +
                    kRoundingProbes * static_cast<int>(probed.size());
  RunProgress bar(progress, live_progress, total);
  TrialRunner runner(plan, run_dir, bar, totals, executor);
  const auto trial_dir = [&](const std::string& trial_id) {
    std::filesystem::path dir = run_dir / "trials" / trial_id;
    std::filesystem::create_directories(dir);
    return dir;
  };
  // Warm-up trials: a few steps each, recorded with their role and left out of the results;
  // they leave every configuration's files in the page cache for its first measured trial.
  for (int rep = 0; rep < plan.warmup_trials; ++rep) {
    for (const Configuration& config : configs) {
      const std::string trial_id =
          fmt::format("{:03d}-{}-warmup", runner.scheduled() + 1, Slug(config.id));
      TrialSpec spec = MakeTrialSpec(plan, config, inputs, rep, trial_id, trial_dir(trial_id));
      spec.save_model = false;
      spec.budget = {.min_steps = kWarmupTrialSteps,
                     .max_steps = kWarmupTrialSteps,
                     .min_seconds = 0.0,
                     .max_seconds = plan.trial_timeout_s};
      runner.Schedule(config, spec, rep, plan.warmup_trials, config.id + " (warm-up)",
                      {{"role", "warmup"}});
    }
  }
  // Round-robin: every configuration runs once before any runs twice, so slow drift of the
  // machine (thermal, other load) spreads over all configurations instead of biasing one.
  for (int rep = 0; rep < plan.trials; ++rep) {
    for (const Configuration& config : configs) {
      const std::string trial_id =
          fmt::format("{:03d}-{}", runner.scheduled() + 1, Slug(config.id));
      const TrialSpec spec =
          MakeTrialSpec(plan, config, inputs, rep, trial_id, trial_dir(trial_id));
      runner.Schedule(config, spec, rep, plan.trials, config.id, nlohmann::json::object());
    }
  }
  // The rounding probes: the reference again with other rounding, for exactly the losses the
  // parity gate compares. Not timed results: they only calibrate the gate. The last one also
  // computes with another thread count, which changes how LibTorch's kernels split their sums.
  for (const Configuration* config : probed) {
    for (int k = 1; k <= kRoundingProbes; ++k) {
      const std::string trial_id =
          fmt::format("{:03d}-{}-probe{}", runner.scheduled() + 1, Slug(config->id), k);
      TrialSpec spec =
          MakeTrialSpec(plan, *config, inputs, /*rep=*/0, trial_id, trial_dir(trial_id));
      spec.save_model = false;
      spec.rounding_probe = static_cast<std::uint64_t>(k);
      // Data-parallel ranks already fill the cores they may: another thread count would
      // oversubscribe them (50 s instead of 7 here for 2 ranks of 2 threads on 2 cores), so that
      // probe keeps the threads and changes the kernels only (oneDNN off).
      if (k == kRoundingProbes && config->task != kTaskTrainDdp) {
        spec.threads = RoundingProbeThreads(config->threads);
      }
      const auto steps = static_cast<std::int64_t>(parity::ToleranceFor("fp32").losses_compared);
      spec.budget = {.min_steps = steps,
                     .max_steps = steps,
                     .min_seconds = 0.0,
                     .max_seconds = plan.trial_timeout_s};
      runner.Schedule(
          *config, spec, k - 1, kRoundingProbes, config->id + " (rounding probe)",
          {{"role", "rounding_probe"}, {"rounding_probe", k}, {"threads", spec.threads}});
    }
  }
  runner.RunAll();
  if (g_stop.load())
    fmt::print(progress, "stopped: the run was interrupted; results so far are kept\n");
  return totals;
}

}  // namespace fwbench
