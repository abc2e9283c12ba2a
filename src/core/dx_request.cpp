#include "core/dx_request.h"

#include <fmt/format.h>

#include <fstream>

#include "core/error.h"

namespace fwbench {

const std::vector<DxFault>& DxFaults() {
  static const std::vector<DxFault> faults = {
      {"shape_mismatch",
       "the layer `classifier` built for 60 inputs, fed the 64 of `hidden` (training)",
       R"(\bclassifier\b)", "the layer classifier", true, false},
      {"exploding_loss",
       "a learning rate 10^4 times too large: when does anyone report the loss is not finite",
       R"(\bnan\b|\binf\b|\binfinity\b)", "NaN or Inf", true, false},
      {"exploding_loss_checked",
       "the same, with the framework's own NaN checker on (detect_anomaly, check_numerics, "
       "jax_debug_nans, tfjs DEBUG)",
       R"(\bnan\b|\binf\b|\binfinity\b)", "NaN or Inf", true, false},
      {"bad_batch",
       "one sample of the data pipeline has 3071 values instead of 3072 (a runtime: an input of "
       "[16, 3071])",
       R"(\b3071\b)", "the bad sample's size (3071)", false, false},
      {"wrong_dtype", "inference on the raw uint8 pixels (int32 in tfjs) where float32 is expected",
       R"((\b|_)uint8\b|\bbyte\b|\bu8\b|\bint32\b)", "the input's dtype", false, false},
      {"export_unsupported",
       "export to ONNX of a model with a Cholesky factorisation, which ONNX has no operator for",
       R"(cholesky)", "the operator (Cholesky)", true, true},
  };
  return faults;
}

const DxFault& DxFaultNamed(const std::string& name) {
  std::string names;
  for (const DxFault& f : DxFaults()) {
    if (f.name == name) return f;
    names += (names.empty() ? "" : ", ") + f.name;
  }
  throw UsageError(fmt::format("unknown fault '{}' (have: {})", name, names));
}

nlohmann::json ToJson(const DxRequest& r) {
  return {{"fault", r.fault},
          {"mode", r.mode},
          {"threads", r.threads},
          {"error_file", r.error_file.string()},
          {"onnx_model", r.onnx_model.string()}};
}

DxRequest ReadDxRequest(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw UsageError(fmt::format("{}: cannot read the dx request", path.string()));
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (!j.is_object()) {
    throw UsageError(fmt::format("{}: the dx request is not a JSON object", path.string()));
  }
  auto text = [&](const char* field) {
    if (!j.contains(field) || !j[field].is_string()) {
      throw UsageError(fmt::format("{}: field {} must be a string", path.string(), field));
    }
    return j[field].get<std::string>();
  };
  DxRequest r;
  try {
    r.fault = DxFaultNamed(text("fault")).name;
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("{}: field fault: {}", path.string(), e.what()));
  }
  r.mode = text("mode");
  if (!j.contains("threads") || !j["threads"].is_number_integer() || j["threads"] < 1) {
    throw UsageError(fmt::format("{}: field threads must be an integer >= 1", path.string()));
  }
  r.threads = j["threads"].get<int>();
  r.error_file = text("error_file");
  r.onnx_model = text("onnx_model");
  return r;
}

}  // namespace fwbench
