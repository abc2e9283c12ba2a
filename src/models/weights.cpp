#include "models/weights.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "core/error.h"
#include "data/safetensors.h"

namespace fwbench::models {

namespace {

namespace st = fwbench::safetensors;

std::optional<st::DType> ToSafetensors(c10::ScalarType type) {
  switch (type) {
    case torch::kFloat64:
      return st::DType::kF64;
    case torch::kFloat32:
      return st::DType::kF32;
    case torch::kFloat16:
      return st::DType::kF16;
    case torch::kBFloat16:
      return st::DType::kBF16;
    case torch::kInt64:
      return st::DType::kI64;
    case torch::kInt32:
      return st::DType::kI32;
    case torch::kInt16:
      return st::DType::kI16;
    case torch::kInt8:
      return st::DType::kI8;
    case torch::kUInt8:
      return st::DType::kU8;
    case torch::kBool:
      return st::DType::kBool;
    default:
      return std::nullopt;
  }
}

c10::ScalarType ToTorch(st::DType dtype) {
  switch (dtype) {
    case st::DType::kF64:
      return torch::kFloat64;
    case st::DType::kF32:
      return torch::kFloat32;
    case st::DType::kF16:
      return torch::kFloat16;
    case st::DType::kBF16:
      return torch::kBFloat16;
    case st::DType::kI64:
      return torch::kInt64;
    case st::DType::kI32:
      return torch::kInt32;
    case st::DType::kI16:
      return torch::kInt16;
    case st::DType::kI8:
      return torch::kInt8;
    case st::DType::kU8:
      return torch::kUInt8;
    case st::DType::kBool:
      return torch::kBool;
  }
  throw std::invalid_argument("invalid safetensors DType");
}

bool IsFloating(st::DType d) {
  return d == st::DType::kF64 || d == st::DType::kF32 || d == st::DType::kF16 ||
         d == st::DType::kBF16;
}

// Parameters then buffers, dotted names, undefined tensors skipped.
std::vector<std::pair<std::string, torch::Tensor>> NamedTensors(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    if (item.value().defined()) out.emplace_back(item.key(), item.value());
  }
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    if (item.value().defined()) out.emplace_back(item.key(), item.value());
  }
  return out;
}

std::string Shape(c10::IntArrayRef shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// "a, b, c" — capped so a completely wrong file gives a readable message.
std::string List(const std::vector<std::string>& names) {
  constexpr std::size_t kMax = 20;
  std::vector<std::string> shown(
      names.begin(), names.begin() + static_cast<std::ptrdiff_t>(std::min(names.size(), kMax)));
  std::string out = fmt::format("{}", fmt::join(shown, ", "));
  if (names.size() > kMax) out += fmt::format(", ... ({} more)", names.size() - kMax);
  return out;
}

// CPU, contiguous tensor with its safetensors dtype.
std::pair<st::DType, torch::Tensor> ForWriting(const std::string& name, const torch::Tensor& t) {
  const auto dtype = ToSafetensors(t.scalar_type());
  if (!dtype) {
    throw std::invalid_argument(
        fmt::format("tensor '{}' has dtype {}, which safetensors cannot "
                    "store",
                    name, c10::toString(t.scalar_type())));
  }
  return {*dtype, t.detach().to(torch::kCPU).contiguous()};
}

}  // namespace

void SaveTensors(const std::vector<std::pair<std::string, torch::Tensor>>& named,
                 const std::filesystem::path& path,
                 const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> keep_alive;
  std::vector<st::TensorToWrite> tensors;
  keep_alive.reserve(named.size());
  tensors.reserve(named.size());
  for (const auto& [name, tensor] : named) {
    auto [dtype, cpu] = ForWriting(name, tensor);
    keep_alive.push_back(cpu);
    tensors.push_back(st::TensorToWrite{
        name, dtype, cpu.sizes().vec(),
        std::span<const std::byte>(static_cast<const std::byte*>(cpu.data_ptr()), cpu.nbytes())});
  }
  st::Write(path, tensors, metadata);
}

void SaveStateDict(const torch::nn::Module& module, const std::filesystem::path& path,
                   const std::map<std::string, std::string>& metadata) {
  SaveTensors(NamedTensors(module), path, metadata);
}

bool CanCopy(st::DType from, c10::ScalarType to) {
  const auto module_dtype = ToSafetensors(to);
  return module_dtype && (*module_dtype == from || (IsFloating(*module_dtype) && IsFloating(from)));
}

void CopyFromFile(const st::File& file, const st::TensorInfo& info, torch::Tensor& tensor) {
  torch::NoGradGuard no_grad;
  const auto bytes = file.Bytes(info);
  if (bytes.empty()) return;
  const auto options = torch::TensorOptions().dtype(ToTorch(info.dtype));
  const std::size_t alignment = st::ElementSize(info.dtype);
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignment == 0) {
    // Copy straight out of the file buffer: no intermediate tensor (measured: the load phase
    // of ResNet-18's 45 MB went from ~0.3-0.45 s to the figure in docs/performance.md).
    tensor.copy_(torch::from_blob(const_cast<std::byte*>(bytes.data()), info.shape, options));
  } else {
    torch::Tensor source = torch::empty(info.shape, options);
    std::memcpy(source.data_ptr(), bytes.data(), bytes.size());
    tensor.copy_(source);  // converts dtype, moves to the tensor's device
  }
}

void LoadStateDict(torch::nn::Module& module, const std::filesystem::path& path) {
  const st::File file = st::File::Read(path);
  const auto named = NamedTensors(module);

  std::vector<std::string> missing;
  std::vector<std::string> mismatched;
  std::vector<std::pair<const st::TensorInfo*, torch::Tensor>> plan;
  for (const auto& [name, tensor] : named) {
    const st::TensorInfo* info = file.Find(name);
    if (info == nullptr) {
      missing.push_back(name);
      continue;
    }
    if (!tensor.sizes().equals(info->shape)) {
      mismatched.push_back(fmt::format("'{}' has shape {} in the file, the model expects {}", name,
                                       Shape(info->shape), Shape(tensor.sizes())));
      continue;
    }
    if (!CanCopy(info->dtype, tensor.scalar_type())) {
      const auto module_dtype = ToSafetensors(tensor.scalar_type());
      mismatched.push_back(fmt::format(
          "'{}' has dtype {} in the file, the model expects {}", name, st::DTypeName(info->dtype),
          module_dtype ? std::string(st::DTypeName(*module_dtype))
                       : std::string(c10::toString(tensor.scalar_type()))));
      continue;
    }
    plan.emplace_back(info, tensor);
  }
  std::vector<std::string> unexpected;
  for (const auto& info : file.tensors()) {
    const bool known = std::any_of(named.begin(), named.end(),
                                   [&](const auto& item) { return item.first == info.name; });
    if (!known) unexpected.push_back(info.name);
  }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::vector<std::string> problems;
    if (!missing.empty()) {
      problems.push_back(
          fmt::format("{} missing tensor(s) the model needs: {}", missing.size(), List(missing)));
    }
    if (!unexpected.empty()) {
      problems.push_back(fmt::format("{} unexpected tensor(s) the model does not have: {}",
                                     unexpected.size(), List(unexpected)));
    }
    for (const auto& m : mismatched) problems.push_back(m);
    throw UsageError(
        fmt::format("weights file '{}' does not match the model ({} tensors in the "
                    "file, {} in the model): {}",
                    path.string(), file.tensors().size(), named.size(), fmt::join(problems, "; ")));
  }

  for (auto& [info, tensor] : plan) CopyFromFile(file, *info, tensor);
}

std::string StateDictFingerprint(const torch::nn::Module& module) {
  auto named = NamedTensors(module);
  std::sort(named.begin(), named.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  auto mix = [&hash](const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) {
      hash ^= p[i];
      hash *= 0x100000001b3ULL;
    }
  };
  for (const auto& [name, tensor] : named) {
    auto [dtype, cpu] = ForWriting(name, tensor);
    const std::string header =
        fmt::format("{}\n{}\n{}\n", name, st::DTypeName(dtype), Shape(cpu.sizes()));
    mix(header.data(), header.size());
    mix(cpu.data_ptr(), cpu.nbytes());
  }
  return fmt::format("{:016x}", hash);
}

}  // namespace fwbench::models
