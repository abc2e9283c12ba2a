#include "data/npy.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "core/error.h"

namespace fwbench::npy {

namespace {

// The value of 'key' in the header dict, as text up to the next top-level comma or brace.
std::string Field(const std::string& header, const std::string& key, const std::string& where) {
  for (const char quote : {'\'', '"'}) {
    const std::string quoted = std::string(1, quote) + key + std::string(1, quote);
    const auto at = header.find(quoted);
    if (at == std::string::npos) continue;
    auto colon = header.find(':', at + quoted.size());
    if (colon == std::string::npos) break;
    std::size_t begin = colon + 1;
    while (begin < header.size() && std::isspace(static_cast<unsigned char>(header[begin])))
      ++begin;
    std::size_t end = begin;
    int depth = 0;
    for (; end < header.size(); ++end) {
      const char c = header[end];
      if (c == '(') ++depth;
      if (c == ')') --depth;
      if (depth == 0 && (c == ',' || c == '}')) break;
    }
    std::string value = header.substr(begin, end - begin);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back())))
      value.pop_back();
    return value;
  }
  throw UsageError(fmt::format("{}: the .npy header has no '{}' (header: {})", where, key, header));
}

}  // namespace

void ParseHeader(const std::string& header, const std::string& where, Array& out) {
  std::string descr = Field(header, "descr", where);
  if (descr.size() >= 2 && (descr.front() == '\'' || descr.front() == '"')) {
    descr = descr.substr(1, descr.size() - 2);
  }
  if (descr == "<f4") {
    out.dtype = "float32";
  } else if (descr == "<i8") {
    out.dtype = "int64";
  } else if (descr == "<i4") {
    out.dtype = "int32";
  } else {
    throw UsageError(fmt::format(
        "{}: dtype '{}' is not one fwbench feeds (little-endian float32 '<f4', int64 '<i8' or "
        "int32 '<i4'); convert it with numpy, e.g. a.astype(np.float32)",
        where, descr));
  }
  if (Field(header, "fortran_order", where) != "False") {
    throw UsageError(fmt::format(
        "{}: the array is in Fortran order; save a C-ordered copy (np.ascontiguousarray)", where));
  }
  const std::string shape = Field(header, "shape", where);
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')') {
    throw UsageError(fmt::format("{}: shape {} is not a tuple", where, shape));
  }
  out.shape.clear();
  std::string number;
  for (std::size_t i = 1; i < shape.size(); ++i) {
    const char c = shape[i];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      number += c;
    } else if (c == ',' || c == ')') {
      if (!number.empty()) {
        if (number.size() > 15)
          throw UsageError(fmt::format("{}: shape {} is too large", where, shape));
        out.shape.push_back(std::stoll(number));
        number.clear();
      }
    } else if (!std::isspace(static_cast<unsigned char>(c))) {
      throw UsageError(fmt::format("{}: shape {} is not a tuple of numbers", where, shape));
    }
  }
}

Array Parse(std::string_view bytes, const std::string& where) {
  if (bytes.size() < 8 || bytes.substr(0, 6) != "\x93NUMPY") {
    throw UsageError(fmt::format(
        "{}: not a .npy file (it does not start with \\x93NUMPY; save it with numpy.save)", where));
  }
  const auto byte = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i]));
  };
  const std::uint32_t major = byte(6);
  std::size_t at = 8;
  std::uint32_t header_len = 0;
  if (major == 1) {
    if (bytes.size() < at + 2)
      throw UsageError(fmt::format("{}: the .npy header is truncated", where));
    header_len = byte(8) | (byte(9) << 8);
    at += 2;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < at + 4)
      throw UsageError(fmt::format("{}: the .npy header is truncated", where));
    header_len = byte(8) | (byte(9) << 8) | (byte(10) << 16) | (byte(11) << 24);
    at += 4;
  } else {
    throw UsageError(fmt::format("{}: .npy format version {} is not 1, 2 or 3", where, major));
  }
  if (header_len > (1u << 20) || bytes.size() - at < header_len) {
    throw UsageError(fmt::format("{}: the .npy header is truncated or too long", where));
  }
  Array out;
  ParseHeader(std::string(bytes.substr(at, header_len)), where, out);
  at += header_len;
  std::int64_t count = 1;
  for (std::int64_t d : out.shape) {
    if (d != 0 && count > std::numeric_limits<std::int64_t>::max() / 8 / d) {
      throw UsageError(fmt::format("{}: its shape is too large", where));
    }
    count *= d;
  }
  const std::size_t element = out.dtype == "int64" ? 8 : 4;
  const auto expected = static_cast<std::size_t>(count) * element;
  const std::size_t size = bytes.size() - at;
  if (size != expected) {
    throw UsageError(fmt::format("{}: {} bytes of data for shape ({}) of {}: expected {}", where,
                                 size, fmt::join(out.shape, ", "), out.dtype, expected));
  }
  out.data.resize(expected);
  if (expected > 0) std::memcpy(out.data.data(), bytes.data() + at, expected);
  return out;
}

Array Read(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(fmt::format("{}: cannot open it", path.string()));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return Parse(bytes, path.string());
}

}  // namespace fwbench::npy
