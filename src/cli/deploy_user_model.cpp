// `fwbench deploy --model-file FILE` / `--model-py pkg.mod:factory`: the user's model made ready
// for fwbench serve (TorchScript for LibTorch, ONNX for OpenVINO or OpenCV DNN, with a KServe v2
// signature from the model's resolved inputs) and for the FastAPI baseline (the file itself, loaded
// by the format's own framework in the environment of its reference runtime).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iostream>
#include <set>

#include "backends/served/served_onnx.h"
#include "cli/deploy_target.h"
#include "core/error.h"
#include "orchestrate/builtin_workers.h"
#include "pipeline/user_model.h"
#include "serve/model_config.h"

namespace fwbench::cli {

namespace {

// The model's name in URLs: the file's stem or the factory's name, in the characters a served
// model's name may hold.
std::string ServedName(const Plan& plan) {
  std::string raw = plan.model_py.empty() ? plan.model_file.stem().string()
                                          : plan.model_py.substr(plan.model_py.find(':') + 1);
  std::string name;
  for (const char c : raw) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    name.push_back(ok ? c : '_');
  }
  if (name.empty()) name = "model";
  return name.substr(0, 128);
}

// KServe v2's datatype for an input fwbench's load generator can fill.
std::string KserveDatatype(const UserModelInput& input) {
  if (input.dtype == "float32") return "FP32";
  if (input.dtype == "int64") return "INT64";
  throw UsageError(fmt::format(
      "fwbench deploy sends FP32 and INT64 inputs; input '{}' is {} (fwbench run benchmarks it "
      "in-process)",
      input.name, input.dtype));
}

// The Python module the baseline imports to load a format, and the format's plain name.
struct BaselineRuntime {
  const char* format;
  const char* module;
  const char* what;
};
constexpr BaselineRuntime kBaselineRuntimes[] = {{"pytorch_module", "torch", "PyTorch module"},
                                                 {"torchscript", "torch", "TorchScript file"},
                                                 {"exported_program", "torch", ".pt2 program"},
                                                 {"onnx", "onnxruntime", "ONNX file"},
                                                 {"keras", "keras", ".keras model"},
                                                 {"savedmodel", "tensorflow", "SavedModel"}};

const BaselineRuntime& BaselineFor(const std::string& format) {
  for (const BaselineRuntime& r : kBaselineRuntimes) {
    if (format == r.format) return r;
  }
  throw UsageError(fmt::format("fwbench deploy does not serve {} models", format));
}

const BuiltinBackend* FindWorker(const std::vector<BuiltinBackend>& workers,
                                 const std::string& name) {
  for (const BuiltinBackend& w : workers) {
    if (w.name == name && w.Available()) return &w;
  }
  return nullptr;
}

// `declared` as ONNX Runtime describes a file's outputs (the batch dimension first), or, with
// `row_shapes`, as a converter answers (one row's shape).
std::vector<serve::TensorSignature> Outputs(const nlohmann::json& declared, bool row_shapes) {
  std::vector<serve::TensorSignature> outputs;
  for (const auto& o : declared) {
    std::vector<std::int64_t> shape = {-1};
    const auto& dims = o.value("shape", nlohmann::json::array());
    for (std::size_t d = row_shapes ? 0 : 1; d < dims.size(); ++d) {
      shape.push_back(dims[d].is_number_integer() ? dims[d].get<std::int64_t>() : -1);
    }
    outputs.push_back({o.value("name", "output"), "FP32", shape});
  }
  return outputs;
}

}  // namespace

DeployTarget PrepareUserModelDeploy(const Plan& plan, const DeployArgs& a,
                                    const std::filesystem::path& self,
                                    const std::filesystem::path& run_dir) {
  namespace fs = std::filesystem;
  const std::string format = pipeline::UserModelFormat(plan);
  const std::string reference = pipeline::UserModelReference(format);
  const BaselineRuntime& baseline = BaselineFor(format);
  // The reference describes the inputs and runs the baseline; pytorch and keras3 convert for the
  // server; onnxruntime reads the served ONNX file's outputs.
  const std::set<std::string> needed = {reference, "pytorch", "keras3", "onnxruntime"};
  const std::vector<BuiltinBackend> workers =
      ProbeBuiltinWorkers(WorkersDir(self), plan.worker_pythons, needed, false);
  const pipeline::ResolvedUserModel model = pipeline::ResolveUserModel(plan, workers, std::cerr);
  const std::string name = pipeline::UserModelName(plan);

  DeployTarget t;
  t.model_name = ServedName(plan);
  t.parity_reference = kBaselineName;  // the model's own framework on the user's own file
  t.parity_atol = 1e-4;  // docs/parity.md's fp32 band, as `fwbench run` checks the model
  t.parity_rtol = 1e-4;
  serve::ModelConfig config;
  config.signature.name = t.model_name;
  nlohmann::json inputs = nlohmann::json::array();
  for (const UserModelInput& i : model.spec.inputs) {
    const std::string datatype = KserveDatatype(i);
    std::vector<std::int64_t> request = {1}, signature = {-1};
    request.insert(request.end(), i.shape.begin(), i.shape.end());
    signature.insert(signature.end(), i.shape.begin(), i.shape.end());
    t.request_inputs.push_back({i.name, datatype, request});
    config.signature.inputs.push_back({i.name, datatype, signature});
    inputs.push_back({{"name", i.name}, {"datatype", datatype}, {"shape", signature}});
  }
  std::cerr << fmt::format("deploy: {} ({}) as '{}', run folder {}\n", name, format, t.model_name,
                           run_dir.string());

  // fwbench serve runs TorchScript (LibTorch) and ONNX (OpenVINO, OpenCV DNN): the format itself
  // where it is one, else the conversion that reaches one.
  const bool torch_family =
      format == "pytorch_module" || format == "exported_program" || format == "torchscript";
  const std::string served_format = torch_family ? "torchscript" : "onnx";
  nlohmann::json conversion = nullptr;
  fs::path served_file;
  std::string prepare_step;
  nlohmann::json outputs;
  bool outputs_are_rows = false;  // a converter's answer, not ONNX Runtime's description
  if (format == "onnx") {
    served_file = model.spec.file;
    prepare_step = "copy the ONNX file into the repository";
  } else {
    const pipeline::Conversion c =
        pipeline::ConvertUserModel(plan, served_format, model, workers, conversion, std::cerr);
    if (c.ok) {
      served_file = c.spec.file;
      outputs = c.outputs;
      outputs_are_rows = true;
      prepare_step = format == "torchscript"
                         ? "copy the TorchScript file into the repository"
                         : fmt::format("convert the {} to {} ({}: {:.1f} s)", baseline.what,
                                       served_format == "onnx" ? "ONNX" : "TorchScript",
                                       c.converter, c.seconds);
    } else {
      t.serve_refusal = fmt::format(
          "fwbench serve runs TorchScript (LibTorch) and ONNX (OpenVINO, OpenCV DNN) models; the "
          "conversion of the {} to {} failed: {}",
          baseline.what, served_format, c.reason);
    }
  }
  if (!served_file.empty() && served_format == "onnx") {
    for (const auto& i : config.signature.inputs) {
      // OpenVINO, where fwbench was built with it, takes INT64 inputs too.
      if (i.datatype != "FP32" && t.serve_refusal.empty() && DefaultOnnxRuntime() == "opencv") {
        t.serve_refusal = fmt::format(
            "fwbench serve runs ONNX models with OpenCV DNN, which takes FP32 inputs only; input "
            "'{}' is {}",
            i.name, i.datatype);
      }
    }
    const BuiltinBackend* ort = FindWorker(workers, "onnxruntime");
    if (ort == nullptr && t.serve_refusal.empty()) {
      t.serve_refusal =
          "the served ONNX file's outputs are read by the onnxruntime worker, which cannot run "
          "here (./scripts/install-deps.sh installs it)";
    } else if (t.serve_refusal.empty()) {
      outputs = DescribeModel(*ort, served_file.string()).at("outputs");
      outputs_are_rows = false;
    }
  }
  if (t.serve_refusal.empty()) {
    config.platform = served_format;
    config.signature.outputs = Outputs(outputs, outputs_are_rows);
    config.batching.max_batch_size = static_cast<std::size_t>(a.max_batch_size);
    config.batching.max_queue_delay_ns = std::int64_t{a.max_queue_delay_us} * 1000;
    config.batching.max_queue = 256;
    config.batching.request_timeout_ns = 60'000'000'000;
    t.repository = run_dir / "repository";
    const fs::path version = t.repository / t.model_name / "1";
    fs::create_directories(version);
    fs::copy_file(served_file, version / serve::ModelFileName(served_format),
                  fs::copy_options::overwrite_existing);
    const fs::path config_file = t.repository / t.model_name / "config.toml";
    std::ofstream(config_file) << serve::ModelConfigToml(config);
    t.serve_steps = {prepare_step,
                     fmt::format("write {}/config.toml ({} lines: inputs, outputs, batching)",
                                 t.model_name, CountLines(config_file))};
    std::cerr << fmt::format("deploy: fwbench serve gets {} ({}); repository {}\n", served_format,
                             prepare_step, t.repository.string());
  } else {
    std::cerr << "deploy: fwbench serve cannot serve it: " << t.serve_refusal << "\n";
  }

  // The baseline loads the user's own file (or imports the module) with the format's framework,
  // in the environment of the reference runtime.
  const BuiltinBackend* ref = FindWorker(workers, reference);
  std::tie(t.baseline_python, t.baseline_refusal) = FindFastapiPython(
      {ref->interpreter}, baseline.module, run_dir,
      "./scripts/install-deps.sh installs FastAPI and uvicorn into the framework's environment");
  std::vector<std::string> input_names;
  for (const UserModelInput& i : model.spec.inputs) input_names.push_back(i.name);
  t.baseline_env = {
      {"MODEL_NAME", t.model_name},
      {"MODEL_FORMAT", format},
      {"MODEL_PATH", model.spec.file.string()},
      {"MODEL_ENTRY", model.spec.entry},
      {"MODEL_IMPORT_PATH", model.spec.import_path.string()},
      {"MODEL_SEED", std::to_string(plan.seed)},
      {"MODEL_INPUTS", fmt::format("{}", fmt::join(input_names, ","))},
      {"MODEL_OUTPUT", config.signature.outputs.empty() ? std::string("output")
                                                        : config.signature.outputs[0].name}};

  t.facts = {{"model", t.model_name},
             {"user_model",
              {{"file", plan.model_py.empty() ? model.spec.file.string() : plan.model_py},
               {"format", format},
               {"reference", reference},
               {"inputs", inputs},
               {"served_by_fwbench_serve",
                t.serve_refusal.empty() ? nlohmann::json(served_format) : nlohmann::json(nullptr)},
               {"conversion", conversion},
               {"baseline_loads", fmt::format("the {} itself, with {} ({})", baseline.what,
                                              baseline.module, ref->interpreter)}}}};
  return t;
}

}  // namespace fwbench::cli
