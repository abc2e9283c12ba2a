#include "backends/served/aoti_package.h"

#include <fmt/format.h>

#include <c10/util/Exception.h>
#include <torch/version.h>

#include "core/error.h"

#if __has_include(<torch/csrc/inductor/aoti_package/model_package_loader.h>)
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#define FWBENCH_HAS_AOTI 1
#else
#define FWBENCH_HAS_AOTI 0
#endif

namespace fwbench {

#if FWBENCH_HAS_AOTI

struct AotiPackage::Loader {
  explicit Loader(const std::string& file) : loader(file) {}
  torch::inductor::AOTIModelPackageLoader loader;
};

std::string AotiUnavailableReason() { return ""; }

AotiPackage::AotiPackage(const std::filesystem::path& file) {
  if (!std::filesystem::is_regular_file(file)) {
    throw UsageError(fmt::format("{}: no such AOTInductor package (.pt2) file", file.string()));
  }
  try {
    loader_ = std::make_unique<Loader>(file.string());
  } catch (const c10::Error& e) {
    throw UsageError(fmt::format(
        "{} is not an AOTInductor package LibTorch {} can load (made by "
        "torch._inductor.aoti_compile_and_package of the same PyTorch version?): {}",
        file.string(), TORCH_VERSION, std::string(e.what_without_backtrace()).substr(0, 300)));
  }
}

std::vector<torch::Tensor> AotiPackage::Run(const std::vector<torch::Tensor>& inputs) {
  return loader_->loader.run(inputs);
}

#else

struct AotiPackage::Loader {};

std::string AotiUnavailableReason() {
  return fmt::format(
      "AOTInductor packages need LibTorch 2.6 or newer (torch::inductor::AOTIModelPackageLoader); "
      "this fwbench is built against LibTorch {} (scripts/build.sh builds against the PyTorch "
      "wheel's LibTorch by default)",
      TORCH_VERSION);
}

AotiPackage::AotiPackage(const std::filesystem::path& file) {
  throw UsageError(fmt::format("{}: {}", file.string(), AotiUnavailableReason()));
}

std::vector<torch::Tensor> AotiPackage::Run(const std::vector<torch::Tensor>&) { return {}; }

#endif

AotiPackage::~AotiPackage() = default;

}  // namespace fwbench
