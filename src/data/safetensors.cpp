#include "data/safetensors.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <stdexcept>
#include <system_error>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/bounded_json.h"
#include "core/error.h"

namespace fwbench::safetensors {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; big-endian hosts are not supported");

namespace {

constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit
constexpr std::string_view kMetadataKey = "__metadata__";

struct DTypeEntry {
  DType dtype;
  std::string_view name;
  std::size_t size;
};

constexpr std::array<DTypeEntry, 10> kDTypes = {{
    {DType::kF64, "F64", 8},
    {DType::kF32, "F32", 4},
    {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2},
    {DType::kI64, "I64", 8},
    {DType::kI32, "I32", 4},
    {DType::kI16, "I16", 2},
    {DType::kI8, "I8", 1},
    {DType::kU8, "U8", 1},
    {DType::kBool, "BOOL", 1},
}};

const DTypeEntry& Entry(DType dtype) {
  for (const auto& e : kDTypes) {
    if (e.dtype == dtype) return e;
  }
  throw std::invalid_argument("safetensors: invalid DType value");
}

std::string ValidDTypeNames() {
  std::string out;
  for (const auto& e : kDTypes) {
    if (!out.empty()) out += ", ";
    out += e.name;
  }
  return out;
}

// Product of dims times element size, or nullopt on overflow / negative dims.
std::optional<std::uint64_t> ByteSize(const std::vector<std::int64_t>& shape, DType dtype) {
  std::uint64_t n = Entry(dtype).size;
  for (std::int64_t d : shape) {
    if (d < 0) return std::nullopt;
    const auto ud = static_cast<std::uint64_t>(d);
    if (ud != 0 && n > std::numeric_limits<std::uint64_t>::max() / ud) return std::nullopt;
    n *= ud;
  }
  return n;
}

std::string ShapeString(const std::vector<std::int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// Every read error goes through here, so all of them name the file the same way.
[[noreturn]] void Fail(const std::filesystem::path& path, std::string_view what) {
  throw UsageError(fmt::format("safetensors file '{}': {}", path.string(), what));
}

std::uint64_t ReadU64LE(const std::byte* p) {
  std::uint64_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;  // little-endian host (static_assert above)
}

TensorInfo ParseEntry(const std::filesystem::path& path, const std::string& name,
                      const nlohmann::json& entry) {
  if (!entry.is_object()) {
    Fail(path, fmt::format("header entry '{}' is a JSON {}; expected an object with dtype, shape "
                           "and data_offsets",
                           name, entry.type_name()));
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(key)) {
      Fail(path, fmt::format("tensor '{}' has no \"{}\"; expected dtype, shape and data_offsets",
                             name, key));
    }
  }
  TensorInfo info;
  info.name = name;

  const auto& dtype = entry.at("dtype");
  if (!dtype.is_string()) {
    Fail(path, fmt::format("tensor '{}': dtype is a JSON {}; expected a string, one of {}", name,
                           dtype.type_name(), ValidDTypeNames()));
  }
  const auto parsed = ParseDType(dtype.get_ref<const std::string&>());
  if (!parsed) {
    Fail(path, fmt::format("tensor '{}': unknown dtype \"{}\"; expected one of {}", name,
                           dtype.get_ref<const std::string&>(), ValidDTypeNames()));
  }
  info.dtype = *parsed;

  const auto& shape = entry.at("shape");
  if (!shape.is_array()) {
    Fail(path, fmt::format("tensor '{}': shape is a JSON {}; expected an array of non-negative "
                           "integers",
                           name, shape.type_name()));
  }
  for (const auto& dim : shape) {
    if (dim.is_number_unsigned()) {
      const auto d = dim.get<std::uint64_t>();
      if (d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        Fail(path, fmt::format("tensor '{}': shape dimension {} is too large", name, d));
      }
      info.shape.push_back(static_cast<std::int64_t>(d));
    } else if (dim.is_number_integer()) {
      Fail(path, fmt::format("tensor '{}': negative shape dimension {} in {}; expected "
                             "non-negative integers",
                             name, dim.get<std::int64_t>(), shape.dump()));
    } else {
      Fail(path, fmt::format("tensor '{}': shape {} contains a non-integer; expected an array of "
                             "non-negative integers",
                             name, shape.dump()));
    }
  }

  const auto& offsets = entry.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    Fail(path, fmt::format("tensor '{}': data_offsets {} is invalid; expected [begin, end], two "
                           "non-negative integers",
                           name, offsets.dump()));
  }
  const auto begin = offsets[0].get<std::uint64_t>();
  const auto end = offsets[1].get<std::uint64_t>();
  if (begin > end) {
    Fail(path, fmt::format("tensor '{}': data_offsets [{}, {}] has begin > end; expected "
                           "begin <= end",
                           name, begin, end));
  }
  info.begin = static_cast<std::size_t>(begin);
  info.end = static_cast<std::size_t>(end);
  return info;
}

}  // namespace

std::string_view DTypeName(DType dtype) { return Entry(dtype).name; }

std::optional<DType> ParseDType(std::string_view name) {
  for (const auto& e : kDTypes) {
    if (e.name == name) return e.dtype;
  }
  return std::nullopt;
}

std::size_t ElementSize(DType dtype) { return Entry(dtype).size; }

const std::vector<DType>& AllDTypes() {
  static const std::vector<DType> all = [] {
    std::vector<DType> v;
    v.reserve(kDTypes.size());
    for (const auto& e : kDTypes) v.push_back(e.dtype);
    return v;
  }();
  return all;
}

std::int64_t TensorInfo::num_elements() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

File File::Read(const std::filesystem::path& path) {
  File file;
  file.path_ = path;

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Fail(path, "cannot open the file; expected a readable .safetensors file");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    Fail(path, "not a regular file; expected a readable .safetensors file");
  }
  file.size_ = static_cast<std::size_t>(st.st_size);
  if (file.size_ > 0) {
    void* map = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (map == MAP_FAILED) {
      ::close(fd);
      Fail(path, fmt::format("cannot map the file: {}", std::strerror(errno)));
    }
    const std::size_t length = file.size_;
    file.contents_ = std::shared_ptr<const std::byte>(
        static_cast<const std::byte*>(map),
        [length](const std::byte* p) { ::munmap(const_cast<std::byte*>(p), length); });
  }
  ::close(fd);
  const std::size_t file_size = file.size_;

  if (file_size < 8) {
    Fail(path, fmt::format("file is {} bytes long; expected at least 8 bytes (the header length)",
                           file_size));
  }
  const std::uint64_t header_len = ReadU64LE(file.contents_.get());
  if (header_len == 0) {
    Fail(path, "header length is 0; expected a JSON header of at least 2 bytes ('{}')");
  }
  if (header_len > kMaxHeaderBytes) {
    Fail(path, fmt::format("header length {} exceeds the limit of {} bytes (100 MB)", header_len,
                           kMaxHeaderBytes));
  }
  if (header_len > file_size - 8) {
    Fail(path, fmt::format("header length {} is larger than the {} bytes that follow it "
                           "(file is {} bytes); the file is truncated or not safetensors",
                           header_len, file_size - 8, file_size));
  }
  file.data_start_ = 8 + static_cast<std::size_t>(header_len);
  const std::size_t data_size = file_size - file.data_start_;

  const auto* header_begin = reinterpret_cast<const char*>(file.contents_.get()) + 8;
  nlohmann::json header;
  try {
    header = ParseBoundedJson(std::string_view(header_begin, header_len));
  } catch (const std::exception& e) {  // nlohmann's parse_error, or nesting past the bound
    Fail(path, fmt::format("header is not valid JSON ({}); expected a JSON object", e.what()));
  }
  if (!header.is_object()) {
    Fail(path, fmt::format("header is a JSON {}; expected a JSON object", header.type_name()));
  }

  for (const auto& [name, entry] : header.items()) {
    if (name == kMetadataKey) {
      if (!entry.is_object()) {
        Fail(path, fmt::format("\"__metadata__\" is a JSON {}; expected an object of string -> "
                               "string",
                               entry.type_name()));
      }
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) {
          Fail(path, fmt::format("\"__metadata__\" value of '{}' is a JSON {}; expected a string",
                                 key, value.type_name()));
        }
        file.metadata_.emplace(key, value.get<std::string>());
      }
      continue;
    }
    TensorInfo info = ParseEntry(path, name, entry);
    if (info.end > data_size) {
      Fail(path, fmt::format("tensor '{}': data_offsets end {} is beyond the data section of {} "
                             "bytes; the file is truncated or the offsets are wrong",
                             name, info.end, data_size));
    }
    const auto expected = ByteSize(info.shape, info.dtype);
    if (!expected || *expected != info.num_bytes()) {
      Fail(path, fmt::format("tensor '{}': data_offsets [{}, {}] span {} bytes; expected {} "
                             "bytes for dtype {} and shape {}",
                             name, info.begin, info.end, info.num_bytes(),
                             expected ? fmt::to_string(*expected) : std::string("(overflow)"),
                             DTypeName(info.dtype), ShapeString(info.shape)));
    }
    file.tensors_.push_back(std::move(info));
  }
  // nlohmann's object is a std::map: items() came in name order already.

  // The tensors must tile the data section: no overlap, no gap, nothing left over.
  std::vector<const TensorInfo*> by_offset;
  by_offset.reserve(file.tensors_.size());
  for (const auto& t : file.tensors_) by_offset.push_back(&t);
  std::stable_sort(by_offset.begin(), by_offset.end(), [](const auto* a, const auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::size_t cursor = 0;
  const TensorInfo* previous = nullptr;
  for (const auto* t : by_offset) {
    if (t->begin < cursor) {
      Fail(path,
           fmt::format("tensor '{}' [{}, {}] overlaps tensor '{}' [{}, {}]; expected "
                       "disjoint byte ranges",
                       t->name, t->begin, t->end, previous->name, previous->begin, previous->end));
    }
    if (t->begin > cursor) {
      Fail(path, fmt::format("gap in the data section: bytes [{}, {}) belong to no tensor "
                             "(next is '{}'); expected the tensors to cover the data section "
                             "without gaps",
                             cursor, t->begin, t->name));
    }
    cursor = t->end;
    previous = t;
  }
  if (cursor != data_size) {
    Fail(path, fmt::format("gap in the data section: bytes [{}, {}) at the end belong to no "
                           "tensor; expected the tensors to cover the data section exactly",
                           cursor, data_size));
  }
  return file;
}

const TensorInfo* File::Find(std::string_view name) const {
  const auto it =
      std::lower_bound(tensors_.begin(), tensors_.end(), name,
                       [](const TensorInfo& t, std::string_view n) { return t.name < n; });
  if (it == tensors_.end() || it->name != name) return nullptr;
  return &*it;
}

std::span<const std::byte> File::Bytes(const TensorInfo& info) const {
  if (info.begin > info.end || data_start_ + info.end > size_) {
    throw std::out_of_range(fmt::format(
        "safetensors file '{}': tensor '{}' is not part of this file", path_.string(), info.name));
  }
  return std::span<const std::byte>(contents_.get() + data_start_ + info.begin, info.num_bytes());
}

void Write(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
           const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorToWrite*> sorted;
  sorted.reserve(tensors.size());
  for (const auto& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->name < b->name; });

  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) {
    auto& meta = header[std::string(kMetadataKey)];
    meta = nlohmann::json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
  }
  std::size_t offset = 0;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const auto& t = *sorted[i];
    if (t.name.empty() || t.name == kMetadataKey) {
      throw std::invalid_argument(
          fmt::format("safetensors::Write '{}': invalid tensor name '{}'", path.string(), t.name));
    }
    if (i > 0 && sorted[i - 1]->name == t.name) {
      throw std::invalid_argument(fmt::format("safetensors::Write '{}': duplicate tensor name '{}'",
                                              path.string(), t.name));
    }
    const auto expected = ByteSize(t.shape, t.dtype);
    if (!expected || *expected != t.data.size()) {
      throw std::invalid_argument(fmt::format(
          "safetensors::Write '{}': tensor '{}' has {} bytes; dtype {} and shape {} need {}",
          path.string(), t.name, t.data.size(), DTypeName(t.dtype), ShapeString(t.shape),
          expected ? fmt::to_string(*expected) : std::string("(invalid shape)")));
    }
    header[t.name] = {{"dtype", std::string(DTypeName(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  const std::uint64_t header_len = header_text.size();

  std::filesystem::path tmp = path;
  tmp += fmt::format(".tmp-{:08x}", std::random_device{}());
  {
    errno = 0;
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      throw WriteError(
          fmt::format("safetensors file '{}': {}; check that the folder exists and "
                      "is writable",
                      path.string(), WriteErrorMessage(tmp.string(), errno)));
    }
    out.write(reinterpret_cast<const char*>(&header_len), sizeof header_len);
    out.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
    for (const auto* t : sorted) {
      out.write(reinterpret_cast<const char*>(t->data.data()),
                static_cast<std::streamsize>(t->data.size()));
    }
    out.close();
    if (!out) {
      const int error = errno;
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);
      throw WriteError(fmt::format("safetensors file '{}': {}", path.string(),
                                   WriteErrorMessage(tmp.string(), error)));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw UsageError(
        fmt::format("safetensors file '{}': cannot rename the temporary file into "
                    "place: {}",
                    path.string(), ec.message()));
  }
}

float HalfToFloat(std::uint16_t half) {
  const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
  const std::uint32_t exponent = (half >> 10) & 0x1Fu;
  std::uint32_t mantissa = half & 0x3FFu;
  std::uint32_t bits = 0;
  if (exponent == 0x1F) {  // inf / NaN: keep the payload
    bits = sign | 0x7F800000u | (mantissa << 13);
  } else if (exponent != 0) {  // normal
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {  // +-0
    bits = sign;
  } else {  // subnormal: normalise
    std::uint32_t e = 127 - 15 + 1;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --e;
    }
    bits = sign | (e << 23) | ((mantissa & 0x3FFu) << 13);
  }
  return std::bit_cast<float>(bits);
}

std::uint16_t FloatToHalf(float value) {
  const auto x = std::bit_cast<std::uint32_t>(value);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t abs = x & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) {  // NaN: quiet, keep the top payload bits
    return static_cast<std::uint16_t>(sign | 0x7E00u | ((abs >> 13) & 0x3FFu));
  }
  if (abs >= 0x477FF000u) {  // >= 65520 (incl. inf) rounds to inf
    return static_cast<std::uint16_t>(sign | 0x7C00u);
  }
  if (abs < 0x38800000u) {  // below 2^-14: half subnormal or zero
    const std::uint32_t exponent = abs >> 23;
    if (exponent < 102) return sign;  // < 2^-25: rounds to zero (2^-25 itself ties to 0)
    const std::uint32_t mantissa = (abs & 0x7FFFFFu) | 0x800000u;
    const std::uint32_t shift = 126 - exponent;  // 14..24
    std::uint32_t result = mantissa >> shift;
    const std::uint32_t rest = mantissa & ((1u << shift) - 1);
    const std::uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (result & 1u))) ++result;
    return static_cast<std::uint16_t>(sign | result);
  }
  std::uint32_t result = (((abs >> 23) - 127 + 15) << 10) | ((abs >> 13) & 0x3FFu);
  const std::uint32_t rest = abs & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (result & 1u))) ++result;  // may carry into exponent
  return static_cast<std::uint16_t>(sign | result);
}

float BFloat16ToFloat(std::uint16_t bf16) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bf16) << 16);
}

std::uint16_t FloatToBFloat16(float value) {
  const auto x = std::bit_cast<std::uint32_t>(value);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) {  // NaN: quiet
    return static_cast<std::uint16_t>((x >> 16) | 0x0040u);
  }
  const std::uint32_t rounding = 0x7FFFu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>((x + rounding) >> 16);
}

std::vector<float> ToFloat32(const File& file, const TensorInfo& info) {
  const auto bytes = file.Bytes(info);
  const std::size_t n = bytes.size() / ElementSize(info.dtype);
  std::vector<float> out(n);
  switch (info.dtype) {
    case DType::kF32:
      if (n > 0) std::memcpy(out.data(), bytes.data(), bytes.size());
      break;
    case DType::kF64:
      for (std::size_t i = 0; i < n; ++i) {
        double v = 0;
        std::memcpy(&v, bytes.data() + i * 8, 8);
        out[i] = static_cast<float>(v);
      }
      break;
    case DType::kF16:
    case DType::kBF16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t v = 0;
        std::memcpy(&v, bytes.data() + i * 2, 2);
        out[i] = info.dtype == DType::kF16 ? HalfToFloat(v) : BFloat16ToFloat(v);
      }
      break;
    default:
      throw UsageError(
          fmt::format("safetensors file '{}': tensor '{}' has dtype {}; expected a "
                      "floating-point dtype (F64, F32, F16 or BF16)",
                      file.path().string(), info.name, DTypeName(info.dtype)));
  }
  return out;
}

}  // namespace fwbench::safetensors
