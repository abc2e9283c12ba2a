#pragma once
// An AOTInductor package (.pt2: torch.export + torch._inductor.aoti_compile_and_package) run
// from C++ through torch::inductor::AOTIModelPackageLoader, where this LibTorch has it (2.6 and
// newer; Debian's 1.13 does not). Free of the loader's header, so every build compiles it.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

namespace fwbench {

// Empty when this LibTorch loads AOTInductor packages; otherwise why not.
std::string AotiUnavailableReason();

class AotiPackage {
 public:
  // Loads `file` (extracting its shared library and weights). Throws UsageError naming the file
  // when it is not a package this LibTorch can load.
  explicit AotiPackage(const std::filesystem::path& file);
  ~AotiPackage();
  AotiPackage(const AotiPackage&) = delete;
  AotiPackage& operator=(const AotiPackage&) = delete;

  std::vector<torch::Tensor> Run(const std::vector<torch::Tensor>& inputs);

 private:
  struct Loader;
  std::unique_ptr<Loader> loader_;
};

}  // namespace fwbench
