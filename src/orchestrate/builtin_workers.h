#pragma once
// The framework workers shipped in workers/ (Python and Node programs speaking
// docs/protocol.md), and how fwbench finds out which of them can run on this machine.
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/trial_spec.h"

namespace fwbench {

// Why a backend cannot run one configuration, or "" (a rule past BuiltinBackend's fields).
using ConfigurationRefusal = std::function<std::string(
    const std::string& workload, const std::string& mode, const std::string& task,
    const std::string& precision, const std::string& memory_format)>;

// Task input_pipeline: the input pipeline a built-in backend runs (cpp for LibTorch, dataloader,
// tf.data, grain), and the mode of the training step it feeds; "" for a backend without one.
std::string PipelineLoaderFor(const std::string& backend);
std::string PipelineModeFor(const std::string& backend);

// A built-in backend as found on this machine: LibTorch or a shipped worker.
struct BuiltinBackend {
  std::string name;                  // the plan's backend name: "pytorch", "onnxruntime-node", …
  std::string description;           // "PyTorch (Python worker)"
  std::vector<std::string> command;  // "{spec}" stands for the trial spec path
  std::vector<std::string> modes;    // every mode the port implements, default first
  std::vector<std::string> auto_modes;  // the modes backends = ["auto"] includes
  std::vector<std::string> tasks;       // "train", "infer"
  // Tasks that run in fewer modes than `modes` (input_pipeline: the mode of its training step).
  std::map<std::string, std::vector<std::string>> task_modes;
  // The modes that run task train_ddp (data-parallel training); empty: none.
  std::vector<std::string> ddp_modes;
  bool needs_onnx = false;     // runs the ONNX export of the model (fwbench export)
  bool python = false;         // a Python worker ([workers.NAME] python can set its interpreter)
  std::string version;         // the framework's version, when it was found
  std::string interpreter;     // the Python interpreter that runs it (Python workers)
  std::string python_version;  // that interpreter's version ("3.12.1")
  std::string unavailable;     // why it cannot run here; empty when it can
  std::map<std::string, std::string> mode_unavailable;  // mode -> why, for modes it cannot run
  std::vector<std::string> precisions = {"fp32"};       // what the port computes in
  std::vector<std::string> memory_formats = {"contiguous"};
  // Workloads the port implements (the probe says; Node workers: image_classification only),
  // and for a workload that not every mode runs, the modes that do.
  std::vector<std::string> workloads = {"image_classification"};
  std::map<std::string, std::vector<std::string>> workload_modes;
  // The formats of a user's model the port loads (the probe says: onnx, pytorch_module), and,
  // set for a run of one (pipeline/user_model), why this backend cannot run it: no format of
  // the model it loads, and no conversion to one, or a conversion that failed.
  std::vector<std::string> model_formats;
  // A format that runs in fewer modes than workload_modes["user_model"] (PyTorch: a TorchScript
  // file is not torch.compile'd).
  std::map<std::string, std::vector<std::string>> model_format_modes;
  std::string model_refusal;
  // The port's files for a workload other than image classification (the probe says).
  std::map<std::string, std::vector<std::filesystem::path>> workload_port_files;
  std::filesystem::path port_file;                // the framework's port of the workload
  std::vector<std::filesystem::path> port_files;  // the port and its framework-specific helpers
  // A mode run by a command other than `command` (LibTorch's aoti: its trial is told which
  // PyTorch worker exports the model).
  std::map<std::string, std::vector<std::string>> mode_commands;
  // A mode whose compile step runs another built-in worker (aoti: pytorch's torch.export), which
  // the run then probes.
  std::map<std::string, std::string> mode_uses_worker;
  // The modes whose first inference trial saves the model it ran (what `fwbench export` copies).
  std::vector<std::string> saving_modes;
  // Per configuration, past the fields above; a configuration it refuses is left out with a
  // note. LibTorch's comes from its trial runners, which know the LibTorch they were built with.
  ConfigurationRefusal refusal;

  bool Available() const { return unavailable.empty(); }
  bool RunsMode(const std::string& mode) const;
  // The command that runs `mode`.
  const std::vector<std::string>& CommandFor(const std::string& mode) const;
  bool RunsTask(const std::string& task) const;
  // Empty when the port runs `workload` in `mode`; otherwise why not.
  std::string WorkloadRefusal(const std::string& workload, const std::string& mode) const;
};

// workers/ of this source tree: $FWBENCH_WORKERS_DIR, else the folder next to the build
// directory the binary lives in, else the source tree it was configured from.
std::filesystem::path WorkersDir(const std::filesystem::path& self_exe);

// A regular file this process may execute (an interpreter, a worker program).
bool IsExecutableFile(const std::filesystem::path& p);

// Interpreters tried for Python workers, in order: $FWBENCH_PYTHON alone when set, otherwise
// python3 on PATH, then /usr/bin/python3 (Debian's, where python3-torch lives).
std::vector<std::string> PythonCandidates();

// The first executable `name` in a folder of $PATH, or an empty path.
std::filesystem::path FindOnPath(const std::string& name);

// The virtual environments scripts/install-deps.sh makes, one per framework family (torch, tf,
// openvino): $FWBENCH_VENVS, else .venvs/ beside `workers_dir`.
std::filesystem::path VenvsDir(const std::filesystem::path& workers_dir);

// Probes every built-in worker (each probe is a short process that imports the framework and
// prints what it can run). A Python worker tries, in order: the interpreter the plan names for
// it (`[workers.NAME] python`, alone), else $FWBENCH_PYTHON (alone), else its family's
// environment under VenvsDir, then PythonCandidates(). A worker whose framework is missing is
// returned with `unavailable` saying why. With `only`, the workers not in it are returned
// unprobed and unavailable ("not probed"): a run that names two backends does not import the
// other frameworks. `onnx_export`: the ONNX backends run fwbench's export, which the PyTorch
// worker makes (false for a user's own model file).
std::vector<BuiltinBackend> ProbeBuiltinWorkers(
    const std::filesystem::path& workers_dir,
    const std::map<std::string, std::string>& python_overrides = {},
    const std::optional<std::set<std::string>>& only = std::nullopt, bool onnx_export = true);

// Runs a worker's one-shot command (an export) with its stderr in `log`, and returns the JSON
// object on its last stdout line; throws std::runtime_error saying `what` failed, how, and the
// log's last line.
nlohmann::json RunWorkerCommand(const std::vector<std::string>& argv,
                                const std::filesystem::path& log, double timeout_s,
                                const std::string& what);

// The catalogue without probing: names, modes and tasks only (for --help and error messages).
std::vector<BuiltinBackend> BuiltinWorkerCatalogue();

// LibTorch's entry: modes eager, compiled and aoti (auto: eager and compiled), run by
// `self_exe trial`; aoti's export needs the PyTorch worker among `workers` (else that mode is
// unavailable, with the reason). Without `refusal`, every pairing of its fields is run.
BuiltinBackend LibtorchCatalogueEntry(const std::filesystem::path& self_exe,
                                      const std::vector<BuiltinBackend>& workers,
                                      ConfigurationRefusal refusal = {});

// Every built-in backend's name, LibTorch first, without probing.
std::vector<BuiltinBackend> BackendCatalogue();

nlohmann::json ToJson(const BuiltinBackend& backend);

// Lines of a port that are code: not blank and not only a comment (#, //, /* … */, docstring
// lines of Python are counted as code except those starting with #). The boilerplate metric.
std::int64_t CountCodeLines(const std::filesystem::path& file);

// A model's inputs and outputs as a Python worker's framework reads them
// (`fwbench_worker.py --describe-model`): {runtime, inputs: [{name, dtype, shape}], outputs}, a
// dynamic dimension as its name or null (a PyTorch module: dtype and shape null). `model` is a
// file, or a module's "pkg.mod:factory" imported from `import_path`. Throws std::runtime_error
// with the framework's reason.
nlohmann::json DescribeModel(const BuiltinBackend& worker, const std::string& model,
                             const std::filesystem::path& import_path = {});

// Converts a user's model with a Python worker's converter (`fwbench_worker.py --convert-model`):
// `request` is {source: the spec's user_model object, to: format, out: path, seed}. Returns
// {ok: true, file, format, converter (with its version), seconds} or {ok: false, reason: the
// converter's message}; a worker that crashes or hangs (past `timeout_s`) gives ok false too.
nlohmann::json ConvertModel(const BuiltinBackend& worker, const nlohmann::json& request,
                            const std::filesystem::path& work_dir, double timeout_s = 600.0);

}  // namespace fwbench

namespace fwbench {

// Exports `weights` (a ResNet of arch/stem/num_classes) to ONNX at `out` with the PyTorch
// worker's torch.onnx (`pytorch` must be available). `raw`: keep the exporter's graph as is
// (without inlining the Identity nodes torch.onnx puts on deduplicated initializers). Returns the
// exporter's JSON answer; throws std::runtime_error with the exporter's stderr tail on failure.
nlohmann::json ExportOnnx(const BuiltinBackend& pytorch, const std::string& arch,
                          const std::string& stem, std::int64_t num_classes,
                          const std::filesystem::path& weights, const std::filesystem::path& out,
                          bool raw = false);

}  // namespace fwbench
