#include "serve/model_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <sstream>
#include <string_view>

#include "core/error.h"
#include "core/toml_depth.h"

namespace fwbench::serve {

namespace {

constexpr const char* kExample = R"(
  platform = "torchscript"    # or "aoti" (model.pt2, AOTInductor), "onnx" (model.onnx, OpenCV DNN)

  [[inputs]]
  name = "image"
  datatype = "FP32"
  shape = [-1, 3, 224, 224]   # -1: any size, the batch dimension first

  [[outputs]]
  name = "logits"
  datatype = "FP32"
  shape = [-1, 1000]

  [batching]                  # optional
  max_batch_size = 8          # 1 turns batching off
  max_queue_delay_us = 500
  max_queue = 64
  request_timeout_ms = 10000)";

[[noreturn]] void Bad(const std::filesystem::path& path, const std::string& what) {
  throw UsageError(
      fmt::format("{}: {}. A model's config.toml looks like:{}", path.string(), what, kExample));
}

// A misspelt key would otherwise be ignored and its default used without a word.
void OnlyKnownKeys(const toml::table& t, std::initializer_list<std::string_view> known,
                   const std::string& where, const std::filesystem::path& path) {
  for (const auto& [key, value] : t) {
    if (std::find(known.begin(), known.end(), key.str()) == known.end()) {
      Bad(path, fmt::format("{}{} is not a known key (known: {})", where, key.str(),
                            fmt::join(known, ", ")));
    }
  }
}

std::vector<TensorSignature> Tensors(const toml::table& t, const char* key,
                                     const std::filesystem::path& path) {
  const toml::array* list = t[key].as_array();
  if (list == nullptr || list->empty()) {
    Bad(path, fmt::format("needs at least one [[{}]] entry", key));
  }
  std::vector<TensorSignature> out;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const toml::table* e = list->get(i)->as_table();
    const std::string where = fmt::format("{}[{}]", key, i);
    if (e == nullptr) Bad(path, where + " must be a table ([[" + std::string(key) + "]])");
    OnlyKnownKeys(*e, {"name", "datatype", "shape"}, where + ".", path);
    TensorSignature s;
    const auto name = (*e)["name"].value<std::string>();
    const auto datatype = (*e)["datatype"].value<std::string>();
    const toml::array* shape = (*e)["shape"].as_array();
    if (!name || name->empty()) Bad(path, where + ".name is missing (a string)");
    if (!datatype || (*datatype != "FP32" && *datatype != "INT64")) {
      Bad(path, where + ".datatype must be \"FP32\" or \"INT64\"");
    }
    if (shape == nullptr || shape->empty()) {
      Bad(path, where + ".shape is missing (a list of integers, -1 for any size)");
    }
    for (const auto& other : out) {
      if (other.name == *name) Bad(path, fmt::format("{}.name \"{}\" is used twice", where, *name));
    }
    s.name = *name;
    s.datatype = *datatype;
    for (const auto& d : *shape) {
      const auto v = d.value<std::int64_t>();
      if (!v || *v == 0 || *v < -1) {
        Bad(path, where + ".shape must hold positive integers or -1");
      }
      s.shape.push_back(*v);
    }
    if (s.shape[0] != -1) Bad(path, where + ".shape must start with -1 (the batch dimension)");
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

ModelConfig ReadModelConfig(const std::filesystem::path& path, const std::string& name) {
  std::ifstream in(path, std::ios::binary);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (const auto line = TomlKeyTooDeepAt(text)) {
    Bad(path, fmt::format("line {} has a key with more than {} dot-separated parts", *line,
                          kMaxTomlKeyParts));
  }
  toml::table t;
  try {
    t = toml::parse(text, path.string());
  } catch (const toml::parse_error& e) {
    Bad(path, fmt::format("not valid TOML (line {}): {}", e.source().begin.line, e.description()));
  }
  ModelConfig c;
  c.source = path;
  c.signature.name = name;
  c.batching.request_timeout_ns = 10'000'000'000;  // a served request may wait behind others
  OnlyKnownKeys(t, {"platform", "onnx_runtime", "inputs", "outputs", "batching"}, "", path);
  if (t.contains("platform") && !t["platform"].is_string()) {
    Bad(path, "platform must be a string: \"torchscript\", \"aoti\" or \"onnx\"");
  }
  c.platform = t["platform"].value_or<std::string>("torchscript");
  if (c.platform != "torchscript" && c.platform != "aoti" && c.platform != "onnx") {
    Bad(path, fmt::format("platform \"{}\" is not served; use \"torchscript\" (NAME/N/model.pt, "
                          "run by LibTorch), \"aoti\" (NAME/N/model.pt2, an AOTInductor package "
                          "run by LibTorch) or \"onnx\" (NAME/N/model.onnx, run by OpenVINO or "
                          "OpenCV DNN)",
                          c.platform));
  }
  if (t.contains("onnx_runtime")) {
    c.onnx_runtime = t["onnx_runtime"].value_or<std::string>("");
    if (c.platform != "onnx") {
      Bad(path, "onnx_runtime applies to platform = \"onnx\" only; remove it or set the platform");
    }
    if (c.onnx_runtime != "openvino" && c.onnx_runtime != "opencv") {
      Bad(path,
          "onnx_runtime must be \"openvino\" (the default where fwbench was built with it) "
          "or \"opencv\" (OpenCV DNN)");
    }
  }
  c.signature.inputs = Tensors(t, "inputs", path);
  c.signature.outputs = Tensors(t, "outputs", path);
  for (const auto& o : c.signature.outputs) {
    if (o.datatype != "FP32") Bad(path, "outputs must be FP32 (output '" + o.name + "')");
  }
  if (t.contains("batching") && !t["batching"].is_table()) {
    Bad(path, "batching must be a table ([batching])");
  }
  if (const toml::table* b = t["batching"].as_table()) {
    OnlyKnownKeys(*b, {"max_batch_size", "max_queue_delay_us", "max_queue", "request_timeout_ms"},
                  "batching.", path);
    // The bounds are the serve command's own (--max-batch-size etc.): past them a warm-up batch
    // would not fit in memory, or a delay in nanoseconds would overflow.
    const auto bounded = [&](const char* key, std::int64_t fallback, std::int64_t min,
                             std::int64_t max) {
      const auto v = (*b)[key].value<std::int64_t>();
      if ((*b).contains(key) && (!v || *v < min || *v > max)) {
        Bad(path, fmt::format("batching.{} must be an integer from {} to {}", key, min, max));
      }
      return v.value_or(fallback);
    };
    c.batching.max_batch_size = static_cast<std::size_t>(
        bounded("max_batch_size", static_cast<std::int64_t>(c.batching.max_batch_size), 1, 4096));
    c.batching.max_queue_delay_ns =
        bounded("max_queue_delay_us", c.batching.max_queue_delay_ns / 1000, 0, 10'000'000) * 1000;
    c.batching.max_queue = static_cast<std::size_t>(
        bounded("max_queue", static_cast<std::int64_t>(c.batching.max_queue), 1, 1'000'000));
    c.batching.request_timeout_ns =
        bounded("request_timeout_ms", c.batching.request_timeout_ns / 1'000'000, 1, 3'600'000) *
        1'000'000;
  }
  return c;
}

const char* ModelFileName(const std::string& platform) {
  return platform == "onnx" ? "model.onnx" : platform == "aoti" ? "model.pt2" : "model.pt";
}

std::string ModelConfigToml(const ModelConfig& c) {
  std::ostringstream out;
  out << "platform = \"" << c.platform << "\"\n";
  if (!c.onnx_runtime.empty()) out << "onnx_runtime = \"" << c.onnx_runtime << "\"\n";
  const auto tensors = [&](const char* key, const std::vector<TensorSignature>& list) {
    for (const auto& s : list) {
      out << "\n[[" << key << "]]\nname = \"" << s.name << "\"\ndatatype = \"" << s.datatype
          << "\"\nshape = [" << fmt::format("{}", fmt::join(s.shape, ", ")) << "]\n";
    }
  };
  tensors("inputs", c.signature.inputs);
  tensors("outputs", c.signature.outputs);
  out << "\n[batching]\nmax_batch_size = " << c.batching.max_batch_size
      << "\nmax_queue_delay_us = " << c.batching.max_queue_delay_ns / 1000
      << "\nmax_queue = " << c.batching.max_queue
      << "\nrequest_timeout_ms = " << c.batching.request_timeout_ns / 1'000'000 << "\n";
  return out.str();
}

}  // namespace fwbench::serve
