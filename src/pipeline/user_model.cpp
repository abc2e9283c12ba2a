#include "pipeline/user_model.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <functional>
#include <map>
#include <set>

#include "core/error.h"
#include "data/npy.h"
#include "data/safetensors.h"

namespace fwbench::pipeline {

namespace {

struct DTypeName {
  const char* plan;   // as --input writes it (KServe v2's names)
  const char* numpy;  // as the spec and the workers write it
  safetensors::DType file;
};
constexpr DTypeName kDTypes[] = {{"FP32", "float32", safetensors::DType::kF32},
                                 {"INT64", "int64", safetensors::DType::kI64},
                                 {"INT32", "int32", safetensors::DType::kI32}};

const DTypeName* FindDType(const std::string& name) {
  for (const DTypeName& d : kDTypes) {
    if (name == d.plan || name == d.numpy) return &d;
  }
  return nullptr;
}

std::string PlanDTypes() {
  std::vector<std::string> names;
  for (const DTypeName& d : kDTypes) names.emplace_back(d.plan);
  return fmt::format("{}", fmt::join(names, ", "));
}

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::string::size_type start = 0;
  while (true) {
    const auto at = text.find(sep, start);
    parts.push_back(text.substr(start, at - start));
    if (at == std::string::npos) break;
    start = at + 1;
  }
  return parts;
}

// splitmix64: the same rows from the same seed on every machine (std's distributions are not
// specified bit for bit).
struct SplitMix {
  std::uint64_t state;
  std::uint64_t Next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)
};

// FNV-1a: a stream per input name, the same on every standard library (std::hash is not).
std::uint64_t Fnv1a(const std::string& text) {
  std::uint64_t h = 0xCBF29CE484222325ULL;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001B3ULL;
  return h;
}

std::string DimsText(const std::vector<std::int64_t>& dims) {
  std::vector<std::string> parts;
  parts.reserve(dims.size());
  for (std::int64_t d : dims) parts.push_back(d < 0 ? "N" : std::to_string(d));
  return fmt::format("{}", fmt::join(parts, "x"));
}

}  // namespace

std::string UserModelFormat(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) {
    throw UsageError(
        fmt::format("{}: no such model file (model.file, --model-file)", file.string()));
  }
  if (std::filesystem::is_directory(file) && std::filesystem::exists(file / "saved_model.pb")) {
    return "savedmodel";
  }
  if (std::filesystem::is_regular_file(file)) {
    const std::string ext = file.extension().string();
    if (ext == ".onnx") return "onnx";
    if (ext == ".keras") return "keras";
    if (ext == ".pt2") return "exported_program";  // torch.export.save
    if (ext == ".pt" || ext == ".ts" || ext == ".torchscript") return "torchscript";
  }
  throw UsageError(fmt::format(
      "{}: not a model format this fwbench loads yet (it loads ONNX files, .onnx; Keras 3 "
      "files, .keras; TorchScript archives, .pt/.ts; torch.export programs, .pt2; SavedModel "
      "folders, with saved_model.pb; and PyTorch modules with --model-py MODULE:FACTORY; export "
      "your model to one of them first, e.g. "
      "with torch.onnx.export or tf2onnx)",
      file.string()));
}

std::string UserModelFormat(const Plan& plan) {
  return plan.model_py.empty() ? UserModelFormat(plan.model_file) : "pytorch_module";
}

std::string UserModelName(const Plan& plan) {
  return plan.model_py.empty() ? plan.model_file.string() : plan.model_py;
}

std::string UserModelReference(const std::string& format) {
  if (format == "onnx") return "onnxruntime";
  if (format == "pytorch_module" || format == "torchscript" || format == "exported_program") {
    return "pytorch";
  }
  if (format == "keras") return "keras3";
  if (format == "savedmodel") return "tensorflow";
  throw UsageError(fmt::format("no reference runtime for model format {}", format));
}

InputDeclaration ParseInputDeclaration(const std::string& text) {
  const std::vector<std::string> parts = Split(text, ':');
  const auto bad = [&](const std::string& why) {
    return UsageError(fmt::format(
        "--input '{}': {}; expected NAME:DTYPE:DIMS[:LO-HI] with the batch dimension first, "
        "e.g. pixels:FP32:Nx3x224x224 or ids:INT64:Nx128:0-30522",
        text, why));
  };
  if (parts.size() < 3 || parts.size() > 4 || parts[0].empty()) throw bad("not 3 or 4 fields");
  InputDeclaration d;
  d.name = parts[0];
  const DTypeName* dtype = FindDType(parts[1]);
  if (dtype == nullptr) {
    throw bad(fmt::format("dtype '{}' is not one of {}", parts[1], PlanDTypes()));
  }
  d.dtype = dtype->numpy;
  for (const std::string& dim : Split(parts[2], 'x')) {
    if (dim == "N" || dim == "?") {
      d.dims.push_back(-1);
      continue;
    }
    try {
      std::size_t used = 0;
      const long long v = std::stoll(dim, &used);
      if (used != dim.size() || v < 1) throw std::invalid_argument(dim);
      d.dims.push_back(v);
    } catch (const std::exception&) {
      throw bad(fmt::format("dimension '{}' is not a positive number or N", dim));
    }
  }
  if (parts.size() == 4) {
    const std::vector<std::string> range = Split(parts[3], '-');
    try {
      if (range.size() != 2) throw std::invalid_argument(parts[3]);
      d.low = std::stod(range[0]);
      d.high = std::stod(range[1]);
    } catch (const std::exception&) {
      throw bad(fmt::format("range '{}' is not LO-HI", parts[3]));
    }
    if (!(d.high > d.low)) throw bad(fmt::format("range '{}' is empty", parts[3]));
  }
  return d;
}

std::vector<UserModelInput> ResolveUserModelInputs(const std::filesystem::path& file,
                                                   const nlohmann::json& described,
                                                   const std::vector<std::string>& declared,
                                                   const std::vector<std::int64_t>& batch_sizes) {
  std::vector<InputDeclaration> declarations;
  declarations.reserve(declared.size());
  for (const std::string& text : declared) declarations.push_back(ParseInputDeclaration(text));
  const nlohmann::json& model_inputs = described.at("inputs");
  std::vector<std::string> names;
  for (const nlohmann::json& i : model_inputs) names.push_back(i.at("name").get<std::string>());
  for (const InputDeclaration& d : declarations) {
    if (std::find(names.begin(), names.end(), d.name) == names.end()) {
      throw UsageError(fmt::format("--input {}: {} has no input of that name (its inputs: {})",
                                   d.name, file.string(), fmt::join(names, ", ")));
    }
  }
  std::vector<UserModelInput> out;
  for (const nlohmann::json& i : model_inputs) {
    UserModelInput input;
    input.name = i.at("name").get<std::string>();
    const auto d = std::find_if(declarations.begin(), declarations.end(),
                                [&](const InputDeclaration& x) { return x.name == input.name; });
    if (i.at("dtype").is_null() || i.at("shape").is_null()) {
      // A PyTorch module names its inputs but declares neither dtype nor shape: the plan does.
      if (d == declarations.end()) {
        throw UsageError(fmt::format(
            "{}: input '{}' has no dtype or shape the model declares; describe it with --input "
            "{}:DTYPE:DIMS, the batch dimension first (e.g. {}:FP32:Nx3x224x224, or "
            "{}:INT64:Nx128:0-30522 for token ids)",
            file.string(), input.name, input.name, input.name, input.name));
      }
      input.dtype = d->dtype;
      for (std::size_t k = 1; k < d->dims.size(); ++k) {
        if (d->dims[k] < 1) {
          throw UsageError(fmt::format(
              "--input {}: dimension {} is N; only the first (the batch) may be", input.name, k));
        }
        input.shape.push_back(d->dims[k]);
      }
      out.push_back(std::move(input));
      continue;
    }
    input.dtype = i.at("dtype").get<std::string>();
    const nlohmann::json& shape = i.at("shape");
    const auto dim_text = [](const nlohmann::json& dim) {
      return dim.is_number()   ? std::to_string(dim.get<std::int64_t>())
             : dim.is_string() ? "'" + dim.get<std::string>() + "'"
                               : "open";
    };
    if (FindDType(input.dtype) == nullptr) {
      throw UsageError(
          fmt::format("{}: input '{}' is {}, which fwbench cannot generate rows of "
                      "yet (it generates {})",
                      file.string(), input.name, input.dtype, PlanDTypes()));
    }
    if (d != declarations.end() && d->dtype != input.dtype) {
      throw UsageError(fmt::format("--input {}: the model's input is {}, not {}", input.name,
                                   input.dtype, d->dtype));
    }
    if (shape.empty()) {
      throw UsageError(
          fmt::format("{}: input '{}' is a scalar; fwbench feeds inputs with a batch "
                      "dimension first",
                      file.string(), input.name));
    }
    if (d != declarations.end() && d->dims.size() != shape.size()) {
      throw UsageError(fmt::format("--input {}: {} dimensions, the model's input has {}",
                                   input.name, d->dims.size(), shape.size()));
    }
    // The first dimension is the batch: the plan's batch sizes fill it.
    if (shape[0].is_number()) {
      const std::int64_t fixed = shape[0].get<std::int64_t>();
      for (std::int64_t b : batch_sizes) {
        if (b != fixed) {
          throw UsageError(
              fmt::format("{}: input '{}' has a fixed batch dimension of {}; run it with "
                          "--batch-sizes {} (or export the model with a dynamic batch)",
                          file.string(), input.name, fixed, fixed));
        }
      }
    }
    for (std::size_t k = 1; k < shape.size(); ++k) {
      const std::int64_t set = d != declarations.end() ? d->dims[k] : -1;
      if (shape[k].is_number()) {
        const std::int64_t fixed = shape[k].get<std::int64_t>();
        if (set > 0 && set != fixed) {
          throw UsageError(fmt::format("--input {}: dimension {} is {} in the model, not {}",
                                       input.name, k, fixed, set));
        }
        input.shape.push_back(fixed);
      } else if (set > 0) {
        input.shape.push_back(set);
      } else {
        // The open dimensions by name, to be replaced by numbers: "NxSEQ".
        std::vector<std::string> example = {"N"};
        for (std::size_t e = 1; e < shape.size(); ++e) {
          std::string name =
              shape[e].is_string() ? shape[e].get<std::string>() : fmt::format("D{}", e);
          std::transform(name.begin(), name.end(), name.begin(),
                         [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
          example.push_back(shape[e].is_number() ? std::to_string(shape[e].get<std::int64_t>())
                                                 : name);
        }
        throw UsageError(fmt::format(
            "{}: input '{}' leaves dimension {} open ({}); set it with --input {}:{}:{}, a number "
            "for each open dimension",
            file.string(), input.name, k, dim_text(shape[k]), input.name,
            FindDType(input.dtype)->plan, fmt::join(example, "x")));
      }
    }
    out.push_back(std::move(input));
  }
  return out;
}

void WriteUserModelRows(const std::filesystem::path& path,
                        const std::vector<UserModelInput>& inputs,
                        const std::vector<std::string>& declared, std::uint64_t seed,
                        std::int64_t rows) {
  std::vector<std::vector<std::byte>> buffers;
  std::vector<safetensors::TensorToWrite> tensors;
  buffers.reserve(inputs.size());
  tensors.reserve(inputs.size());
  for (const UserModelInput& input : inputs) {
    double low = 0.0, high = 0.0;
    for (const std::string& text : declared) {
      const InputDeclaration d = ParseInputDeclaration(text);
      if (d.name == input.name) low = d.low, high = d.high;
    }
    const DTypeName& dtype = *FindDType(input.dtype);
    const bool floating = dtype.file == safetensors::DType::kF32;
    if (!(high > low)) {
      low = floating ? -1.0 : 0.0;
      high = floating ? 1.0 : 100.0;
    }
    std::int64_t count = rows;
    for (std::int64_t d : input.shape) count *= d;
    SplitMix rng{seed ^ Fnv1a(input.name)};
    std::vector<std::byte>& bytes = buffers.emplace_back(static_cast<std::size_t>(count) *
                                                         safetensors::ElementSize(dtype.file));
    for (std::int64_t k = 0; k < count; ++k) {
      const double u = low + (high - low) * rng.Uniform();
      std::byte* at =
          bytes.data() + static_cast<std::size_t>(k) * safetensors::ElementSize(dtype.file);
      if (dtype.file == safetensors::DType::kF32) {
        const auto v = static_cast<float>(u);
        std::memcpy(at, &v, sizeof v);
      } else if (dtype.file == safetensors::DType::kI64) {
        const auto v = static_cast<std::int64_t>(u);
        std::memcpy(at, &v, sizeof v);
      } else {
        const auto v = static_cast<std::int32_t>(u);
        std::memcpy(at, &v, sizeof v);
      }
    }
    std::vector<std::int64_t> shape = {rows};
    shape.insert(shape.end(), input.shape.begin(), input.shape.end());
    tensors.push_back({input.name, dtype.file, std::move(shape), bytes});
  }
  std::filesystem::create_directories(path.parent_path());
  safetensors::Write(path, tensors);
}

namespace {

// One input's rows from the user's files.
struct UserRows {
  std::string dtype;                // numpy's name
  std::vector<std::int64_t> shape;  // rows first
  std::vector<std::byte> data;
  std::string from;  // the file
};

std::map<std::string, UserRows> ReadUserInputFiles(const std::vector<std::string>& files,
                                                   const nlohmann::json& described,
                                                   const std::string& model) {
  std::vector<std::string> names;
  for (const nlohmann::json& i : described.at("inputs")) names.push_back(i.at("name"));
  std::map<std::string, UserRows> out;
  const auto add = [&](const std::string& input, UserRows rows, const std::string& spec) {
    if (std::find(names.begin(), names.end(), input) == names.end()) {
      throw UsageError(fmt::format("--input-file {}: '{}' is not an input of {} (its inputs: {})",
                                   spec, input, model, fmt::join(names, ", ")));
    }
    if (rows.shape.empty() || rows.shape[0] < 1) {
      throw UsageError(
          fmt::format("--input-file {}: '{}' has no rows (its first dimension is the "
                      "rows)",
                      spec, input));
    }
    if (FindDType(rows.dtype) == nullptr) {
      throw UsageError(
          fmt::format("--input-file {}: '{}' is {}, which fwbench does not feed (it "
                      "feeds {})",
                      spec, input, rows.dtype, PlanDTypes()));
    }
    if (!out.emplace(input, std::move(rows)).second) {
      throw UsageError(fmt::format("--input-file {}: '{}' is given twice", spec, input));
    }
  };
  for (const std::string& spec : files) {
    const auto eq = spec.find('=');
    const std::filesystem::path path = eq == std::string::npos ? spec : spec.substr(eq + 1);
    if (!std::filesystem::is_regular_file(path)) {
      throw UsageError(fmt::format("--input-file {}: no such file", spec));
    }
    if (path.extension() == ".npy") {
      std::string input = eq == std::string::npos ? "" : spec.substr(0, eq);
      if (input.empty()) {
        if (names.size() != 1) {
          throw UsageError(
              fmt::format("--input-file {}: {} has {} inputs ({}); name the one this file holds, "
                          "NAME={}",
                          spec, model, names.size(), fmt::join(names, ", "), path.string()));
        }
        input = names.front();
      }
      npy::Array a = npy::Read(path);
      add(input, {a.dtype, a.shape, std::move(a.data), path.string()}, spec);
    } else if (path.extension() == ".safetensors" && eq == std::string::npos) {
      const safetensors::File f = safetensors::File::Read(path);
      for (const safetensors::TensorInfo& t : f.tensors()) {
        const auto bytes = f.Bytes(t);
        // The numpy name of a dtype fwbench feeds, else the file's own (refused by add()).
        const auto fed = std::find_if(std::begin(kDTypes), std::end(kDTypes),
                                      [&](const DTypeName& d) { return d.file == t.dtype; });
        add(t.name,
            {fed != std::end(kDTypes) ? fed->numpy : std::string(safetensors::DTypeName(t.dtype)),
             t.shape, std::vector<std::byte>(bytes.begin(), bytes.end()), path.string()},
            spec);
      }
    } else {
      throw UsageError(fmt::format(
          "--input-file {}: expected FILE.safetensors (a tensor per input), FILE.npy or "
          "NAME=FILE.npy",
          spec));
    }
  }
  if (!out.empty()) {
    for (const std::string& n : names) {
      if (!out.contains(n)) {
        throw UsageError(
            fmt::format("--input-file: {}'s input '{}' is in none of the files; give "
                        "rows for every input",
                        model, n));
      }
    }
  }
  return out;
}

// The user's rows into `path`, checked against the resolved inputs; returns the row count.
std::int64_t WriteUserRows(const std::filesystem::path& path,
                           const std::vector<UserModelInput>& inputs,
                           const std::map<std::string, UserRows>& user_rows) {
  std::vector<safetensors::TensorToWrite> tensors;
  std::int64_t rows = -1;
  std::string first;
  for (const UserModelInput& input : inputs) {
    const UserRows& r = user_rows.at(input.name);
    const std::vector<std::int64_t> row_shape(r.shape.begin() + 1, r.shape.end());
    if (r.dtype != input.dtype || row_shape != input.shape) {
      throw UsageError(fmt::format(
          "--input-file {}: '{}' is {} [rows, {}], the model's input takes {} [batch, {}]", r.from,
          input.name, r.dtype, fmt::join(row_shape, ", "), input.dtype,
          fmt::join(input.shape, ", ")));
    }
    if (rows >= 0 && r.shape[0] != rows) {
      throw UsageError(
          fmt::format("--input-file: '{}' has {} rows and '{}' {}; give every input "
                      "the same rows",
                      first, rows, input.name, r.shape[0]));
    }
    rows = r.shape[0];
    first = input.name;
    tensors.push_back({input.name, FindDType(r.dtype)->file, r.shape, r.data});
  }
  std::filesystem::create_directories(path.parent_path());
  safetensors::Write(path, tensors);
  return rows;
}

// The conversions fwbench makes to reach a runtime that does not load the user's format, and the
// worker whose converter makes each.
struct Converter {
  const char* from;
  const char* to;
  const char* worker;
  const char* mode;  // the worker's mode it converts in ("" for its default)
};
// Keras exports ONNX through torch.onnx on its torch backend (on tensorflow it would go through
// tf2onnx, which converts SavedModels here).
// TorchScript is what a LibTorch server loads (`fwbench deploy`); no worker that runs user models
// loads it without loading the source formats as well.
constexpr Converter kConverters[] = {{"pytorch_module", "onnx", "pytorch", ""},
                                     {"torchscript", "onnx", "pytorch", ""},
                                     {"exported_program", "onnx", "pytorch", ""},
                                     {"pytorch_module", "torchscript", "pytorch", ""},
                                     {"exported_program", "torchscript", "pytorch", ""},
                                     {"torchscript", "torchscript", "pytorch", ""},
                                     {"keras", "onnx", "keras3", "torch"},
                                     {"savedmodel", "onnx", "tensorflow", ""},
                                     {"onnx", "savedmodel", "tensorflow", ""}};

bool Has(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

Conversion Convert(const Plan& plan, const Converter& c, const UserModelSpec& source,
                   const std::vector<BuiltinBackend>& workers, const std::string& key,
                   nlohmann::json& record, std::ostream& log) {
  Conversion result;
  const auto worker = std::find_if(workers.begin(), workers.end(),
                                   [&](const BuiltinBackend& b) { return b.name == c.worker; });
  record = {{"from", c.from}, {"to", c.to}, {"by", c.worker}};
  if (worker == workers.end() || !worker->Available()) {
    result.reason =
        fmt::format("the conversion needs the {} worker, which cannot run here{}", c.worker,
                    worker == workers.end() ? "" : ": " + worker->unavailable);
    record.update({{"ok", false}, {"reason", result.reason}});
    return result;
  }
  if (const auto it = worker->mode_unavailable.find(c.mode);
      *c.mode != '\0' && it != worker->mode_unavailable.end()) {
    result.reason = fmt::format("the conversion runs {} in mode {}, which cannot run here: {}",
                                c.worker, c.mode, it->second);
    record.update({{"ok", false}, {"reason", result.reason}});
    return result;
  }
  const std::filesystem::path out = std::filesystem::absolute(
      plan.out_dir / "cache" / fmt::format("user-model-{:016x}.{}", Fnv1a(key + c.to), c.to));
  nlohmann::json inputs = nlohmann::json::array();
  for (const UserModelInput& i : source.inputs) {
    inputs.push_back({{"name", i.name}, {"dtype", i.dtype}, {"shape", i.shape}});
  }
  const nlohmann::json request = {{"source",
                                   {{"format", source.format},
                                    {"file", source.file.string()},
                                    {"entry", source.entry},
                                    {"import_path", source.import_path.string()},
                                    {"inputs", inputs}}},
                                  {"to", c.to},
                                  {"out", out.string()},
                                  {"seed", plan.seed},
                                  {"mode", c.mode}};
  log << fmt::format("converting {} to {} with the {} worker …\n", UserModelName(plan), c.to,
                     c.worker);
  const nlohmann::json j = ConvertModel(*worker, request, out.parent_path());
  result.ok = j.value("ok", false);
  result.converter = j.value("converter", std::string(c.worker));
  record["converter"] = result.converter;
  if (result.ok) {
    result.spec = source;
    result.spec.file = j.value("file", out.string());
    result.spec.format = c.to;
    result.spec.entry.clear();
    result.spec.import_path.clear();
    result.outputs = j.value("outputs", nlohmann::json::array());
    result.seconds = j.value("seconds", 0.0);
    record.update(
        {{"ok", true}, {"file", result.spec.file.string()}, {"seconds", j.value("seconds", 0.0)}});
    log << fmt::format("  {} in {:.1f} s: {}\n", result.converter, j.value("seconds", 0.0),
                       result.spec.file.string());
  } else {
    result.reason = j.value("reason", std::string("it did not say why"));
    record.update({{"ok", false}, {"reason", result.reason}});
    log << fmt::format("  failed: {}\n", result.reason);
  }
  return result;
}

}  // namespace

ResolvedUserModel ResolveUserModel(const Plan& plan, const std::vector<BuiltinBackend>& workers,
                                   std::ostream& log) {
  const bool module = !plan.model_py.empty();
  const std::string format = UserModelFormat(plan);
  const std::filesystem::path file =
      module ? std::filesystem::path() : std::filesystem::absolute(plan.model_file);
  const std::string name = module ? plan.model_py : file.string();
  // A module is imported as `python -m` would: from where fwbench runs, then PYTHONPATH.
  const std::filesystem::path import_path = module ? std::filesystem::current_path() : "";
  const std::string reference = UserModelReference(format);
  const auto worker = std::find_if(workers.begin(), workers.end(),
                                   [&](const BuiltinBackend& b) { return b.name == reference; });
  if (worker == workers.end() || !worker->Available()) {
    throw UsageError(fmt::format(
        "{}: its reference runtime, {}, is not available here ({}); it reads the model's inputs "
        "and is the parity gate's reference (./scripts/install-deps.sh installs it)",
        name, reference, worker == workers.end() ? "not probed" : worker->unavailable));
  }
  nlohmann::json described;
  try {
    described = DescribeModel(*worker, module ? plan.model_py : file.string(), import_path);
  } catch (const std::runtime_error& e) {
    throw UsageError(e.what());  // the worker names the file and what is wrong with it
  }
  // The user's own rows, where given, also declare the shapes of the inputs they hold.
  const std::map<std::string, UserRows> user_rows =
      ReadUserInputFiles(plan.model_input_files, described, name);
  std::vector<std::string> declared = plan.model_inputs;
  std::set<std::string> from_files;
  for (const auto& [input, r] : user_rows) {
    const std::string& held = input;  // clang 14 cannot capture a structured binding
    const bool named = std::any_of(declared.begin(), declared.end(), [&](const std::string& d) {
      return ParseInputDeclaration(d).name == held;
    });
    if (named) continue;
    std::vector<std::int64_t> dims = r.shape;
    dims[0] = -1;
    declared.push_back(fmt::format("{}:{}:{}", input, FindDType(r.dtype)->plan, DimsText(dims)));
    from_files.insert(input);
  }
  std::vector<UserModelInput> model_inputs;
  try {
    model_inputs = ResolveUserModelInputs(name, described, declared, plan.infer_batch_sizes);
  } catch (const UsageError& e) {
    // A shape that came from a file is the file's disagreement, not an --input's.
    const std::string what = e.what();
    for (const auto& [input, r] : user_rows) {
      const std::string prefix = fmt::format("--input {}: ", input);
      if (from_files.contains(input) && what.starts_with(prefix)) {
        throw UsageError(fmt::format("--input-file {} ('{}', [{}] {}): {}", r.from, input,
                                     fmt::join(r.shape, ", "), r.dtype,
                                     what.substr(prefix.size())));
      }
    }
    throw;
  }
  const std::int64_t largest =
      *std::max_element(plan.infer_batch_sizes.begin(), plan.infer_batch_sizes.end());
  std::int64_t rows = std::max({2 * largest, plan.parity_batch, std::int64_t{32}});
  std::string key =
      fmt::format("{}|{}|{}|{}|{}|{}", name, import_path.string(), plan.seed, rows,
                  fmt::join(plan.model_inputs, ","), fmt::join(plan.model_input_files, ","));
  for (const UserModelInput& i : model_inputs)
    key += fmt::format("|{}{}", i.name, DimsText(i.shape));
  const std::filesystem::path rows_file = std::filesystem::absolute(
      plan.out_dir / "cache" / fmt::format("user-model-inputs-{:016x}.safetensors", Fnv1a(key)));
  if (user_rows.empty()) {
    WriteUserModelRows(rows_file, model_inputs, plan.model_inputs, plan.seed, rows);
  } else {
    rows = WriteUserRows(rows_file, model_inputs, user_rows);
  }
  ResolvedUserModel resolved{.spec = {.file = file,
                                      .format = format,
                                      .entry = module ? plan.model_py : "",
                                      .import_path = import_path,
                                      .inputs_file = rows_file,
                                      .inputs = model_inputs},
                             .described = described,
                             .reference = reference,
                             .key = key,
                             .rows = rows};
  log << fmt::format("model {} ({}): inputs {} as {} reads them\n", name, format,
                     described.at("inputs").dump(), described.value("runtime", reference));
  return resolved;
}

Conversion ConvertUserModel(const Plan& plan, const std::string& to, const ResolvedUserModel& model,
                            const std::vector<BuiltinBackend>& workers, nlohmann::json& record,
                            std::ostream& log) {
  for (const Converter& c : kConverters) {
    if (c.from == model.spec.format && c.to == to) {
      return Convert(plan, c, model.spec, workers, model.key, record, log);
    }
  }
  Conversion none;
  none.reason = fmt::format("fwbench has no conversion from {} to {}", model.spec.format, to);
  record = {{"from", model.spec.format}, {"to", to}, {"ok", false}, {"reason", none.reason}};
  return none;
}

void PrepareUserModel(const Plan& plan, std::vector<BuiltinBackend>& workers, RunInputs& inputs,
                      std::ostream& log) {
  const ResolvedUserModel model = ResolveUserModel(plan, workers, log);
  inputs.user_model = model.spec;
  const bool module = !plan.model_py.empty();
  const std::string& format = model.spec.format;
  const std::string name = module ? plan.model_py : model.spec.file.string();
  const std::string& key = model.key;
  const std::string& reference = model.reference;
  const nlohmann::json& described = model.described;

  // Each runtime that runs user models loads the model itself or a conversion of it; one that
  // can do neither is left out with the reason (a row of the portability matrix).
  nlohmann::json conversions = nlohmann::json::array();
  nlohmann::json runtimes = nlohmann::json::object();
  std::map<std::string, Conversion> converted;  // by target format
  for (BuiltinBackend& w : workers) {
    if (!w.Available() || !Has(w.workloads, kWorkloadUserModel)) continue;
    if (Has(w.model_formats, format)) {
      runtimes[w.name] = {{"loads", format}, {"via", "its own loader"}};
      if (const auto modes = w.model_format_modes.find(format);
          modes != w.model_format_modes.end()) {
        w.workload_modes[kWorkloadUserModel] = modes->second;
      }
      continue;
    }
    const Converter* path = nullptr;
    for (const Converter& c : kConverters) {
      if (c.from == format && Has(w.model_formats, c.to)) path = &c;
    }
    if (path == nullptr) {
      w.model_refusal =
          fmt::format("{} loads {} models, and fwbench has no conversion from {} to them", w.name,
                      fmt::join(w.model_formats, ", "), format);
      runtimes[w.name] = {{"refused", w.model_refusal}};
      continue;
    }
    if (!converted.contains(path->to)) {
      nlohmann::json record;
      converted[path->to] = Convert(plan, *path, inputs.user_model, workers, key, record, log);
      conversions.push_back(std::move(record));
    }
    const Conversion& c = converted[path->to];
    if (c.ok) {
      inputs.user_model_by_backend[w.name] = c.spec;
      runtimes[w.name] = {{"loads", path->to}, {"via", c.converter}};
    } else {
      w.model_refusal =
          fmt::format("the conversion of {} to {} failed: {}", name, path->to, c.reason);
      runtimes[w.name] = {{"refused", w.model_refusal}};
    }
  }

  nlohmann::json resolved = nlohmann::json::array();
  for (const UserModelInput& i : model.spec.inputs) {
    resolved.push_back({{"name", i.name}, {"dtype", i.dtype}, {"shape", i.shape}});
  }
  inputs.user_model_facts = {
      {"file", name},
      {"format", format},
      {"reference", reference},
      {"described_by", described.value("runtime", reference)},
      {"declared", described.at("inputs")},
      {"outputs", described.value("outputs", nlohmann::json::array())},
      {"inputs", resolved},
      {"rows", model.rows},
      {"inputs_file", model.spec.inputs_file.string()},
      {"rows_from", plan.model_input_files.empty() ? nlohmann::json("generated from the seed")
                                                   : nlohmann::json(plan.model_input_files)},
      {"conversions", conversions},
      {"runtimes", runtimes}};
  if (module) inputs.user_model_facts["import_path"] = model.spec.import_path.string();
}

}  // namespace fwbench::pipeline
