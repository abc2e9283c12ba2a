#include "backends/served/load_served_model.h"

#include "backends/served/served_libtorch.h"
#include "backends/served/served_onnx.h"

namespace fwbench {

std::shared_ptr<serve::ServedModel> LoadServedModel(const std::filesystem::path& file,
                                                    const serve::ModelConfig& config,
                                                    const std::string& device) {
  if (config.platform == "onnx") return LoadServedOnnx(file, config, device);
  if (config.platform == "aoti") return LoadServedAotiPackage(file, config, device);
  return LoadServedTorchScript(file, config, device);
}

}  // namespace fwbench
