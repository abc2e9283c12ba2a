#pragma once
// Reading and writing .safetensors files, the weight format every framework of fwbench shares.
//
// Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian unsigned header
// length N, N bytes of UTF-8 JSON, then the data section. The JSON object maps each tensor name
// to {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]} (byte offsets relative to
// the data section) plus an optional "__metadata__" object of string -> string.
//
// File::Read validates the whole file and throws fwbench::UsageError (message names the file,
// the problem and what was expected) for anything the format forbids:
//   - file shorter than 8 bytes; header length 0, larger than the rest of the file or > 100 MB;
//   - header not valid JSON, or not a JSON object;
//   - an entry that is not an object or lacks dtype / shape / data_offsets, an unknown dtype,
//     a shape that is not an array of non-negative integers, data_offsets that are not two
//     non-negative integers;
//   - begin > end, end beyond the data section, a byte length != product(shape) * element size;
//   - overlapping tensors, and gaps: the tensors must cover the data section exactly;
//   - "__metadata__" that is not an object of string -> string.
// Unknown keys inside a tensor entry are ignored (forward compatibility). Duplicate tensor names
// cannot be reported: nlohmann::json keeps the last of duplicated keys, so a file with a
// duplicated name is read as if the earlier entries were absent — and then usually fails the
// gap check, since the earlier entry's bytes are no longer covered.
//
// Only little-endian hosts are supported (static_assert in the .cpp).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fwbench::safetensors {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

// "F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL".
std::string_view DTypeName(DType dtype);
// Inverse of DTypeName; std::nullopt for anything else (names are case-sensitive).
std::optional<DType> ParseDType(std::string_view name);
// Bytes per element (BOOL is one byte).
std::size_t ElementSize(DType dtype);
// All dtypes, in declaration order (for tests and error messages).
const std::vector<DType>& AllDTypes();

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;
  std::size_t begin = 0;  // byte offsets relative to the data section, [begin, end)
  std::size_t end = 0;

  std::size_t num_bytes() const { return end - begin; }
  std::int64_t num_elements() const;
};

class File {
 public:
  // Maps the whole file read-only (mmap + MAP_POPULATE) and validates it; see the top of this
  // header. Mapping instead of reading: on the development VM, faulting in a fresh 45 MB buffer
  // and copying into it took ~270 ms, the populated mapping a fraction of that
  // (docs/performance.md).
  static File Read(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  // Sorted by name.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // nullptr when absent.
  const TensorInfo* Find(std::string_view name) const;
  // The tensor's raw little-endian bytes. No alignment is guaranteed: copy them out
  // (std::memcpy) instead of reinterpreting the pointer.
  std::span<const std::byte> Bytes(const TensorInfo& info) const;
  // Whole-file "__metadata__" (empty when the file has none).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::filesystem::path path_;
  std::shared_ptr<const std::byte> contents_;  // the whole file, mapped; shared by copies
  std::size_t size_ = 0;
  std::size_t data_start_ = 0;  // offset of the data section in contents_
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> data;  // little-endian, product(shape) * ElementSize(dtype) bytes
};

// Writes a safetensors file: header JSON with keys sorted by name, padded with spaces to a
// multiple of 8 bytes (so the data section is 8-byte aligned), data laid out in name order.
// Writes "<path>.tmp-XXXX" in the same folder and renames it over `path` (atomic on POSIX).
// Throws std::invalid_argument for bad tensors (empty, reserved or duplicate name, negative dim,
// data size that does not match the shape) and fwbench::UsageError when the file cannot be
// written (names the file).
void Write(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
           const std::map<std::string, std::string>& metadata = {});

// IEEE 754 binary16 <-> binary32. FloatToHalf rounds to nearest, ties to even; values too large
// become +-inf, NaN stays NaN (quiet).
float HalfToFloat(std::uint16_t half);
std::uint16_t FloatToHalf(float value);
// bfloat16 (upper 16 bits of a binary32) <-> binary32. FloatToBFloat16 rounds to nearest even;
// NaN stays NaN (quiet).
float BFloat16ToFloat(std::uint16_t bf16);
std::uint16_t FloatToBFloat16(float value);

// The tensor's values as float32 (F32 copied, F16/BF16 widened, F64 rounded). Throws
// fwbench::UsageError for other dtypes, naming the file and tensor.
std::vector<float> ToFloat32(const File& file, const TensorInfo& info);

}  // namespace fwbench::safetensors
