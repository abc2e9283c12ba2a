#pragma once
// Saving and loading a module's state dict (parameters + buffers) as .safetensors, the weight
// format shared by every framework fwbench runs. Names are LibTorch's dotted names, which for
// models/resnet.h are exactly torchvision's state_dict keys.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "data/safetensors.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace fwbench::models {

// Writes named_parameters() + named_buffers() (recursive) in their own dtype (float32 -> F32,
// BatchNorm's num_batches_tracked int64 -> I64, ...); tensors are copied to the CPU first.
// Undefined tensors are skipped. Atomic (temp file + rename). Throws fwbench::UsageError when the
// file cannot be written, std::invalid_argument for a dtype safetensors cannot hold.
void SaveStateDict(const torch::nn::Module& module, const std::filesystem::path& path,
                   const std::map<std::string, std::string>& metadata = {});

// Writes the given tensors under the given names, as SaveStateDict does.
void SaveTensors(const std::vector<std::pair<std::string, torch::Tensor>>& named,
                 const std::filesystem::path& path,
                 const std::map<std::string, std::string>& metadata = {});

// True when a file tensor of dtype `from` can be copied into a tensor of `to`: the same dtype,
// or both floating point (converted).
bool CanCopy(safetensors::DType from, c10::ScalarType to);
// Copies one tensor of `file` into `dst` (same shape; converts floating dtypes; moves to dst's
// device), under torch::NoGradGuard.
void CopyFromFile(const safetensors::File& file, const safetensors::TensorInfo& info,
                  torch::Tensor& dst);

// Strict load into the module's tensors, in place (under torch::NoGradGuard; device, dtype and
// requires_grad of the module's tensors are kept). Every problem is reported at once in one
// fwbench::UsageError naming the file, and the module is left untouched unless everything is OK:
//   - missing: a parameter/buffer of the module that the file lacks (all listed);
//   - unexpected: a tensor in the file the module does not have (all listed);
//   - shape mismatch: names the tensor, the module's and the file's shapes;
//   - dtype: floating tensors (F64/F32/F16/BF16) convert to the module tensor's floating dtype;
//     anything else must match exactly (e.g. num_batches_tracked is I64).
// Plus every error File::Read reports for a corrupt file.
void LoadStateDict(torch::nn::Module& module, const std::filesystem::path& path);

// 16 hex digits: FNV-1a 64 over the sorted names, dtypes, shapes and raw bytes of the state dict.
// Equal fingerprints <=> bit-identical weights (up to hash collisions).
std::string StateDictFingerprint(const torch::nn::Module& module);

}  // namespace fwbench::models
