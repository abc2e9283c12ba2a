#pragma once
// Reading NumPy .npy files (numpy.save), the format a user most likely has their model's inputs
// in. Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html — the magic
// "\x93NUMPY", a version (1.0: 2-byte header length; 2.0 and 3.0: 4-byte), a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (N, ...)}, then the raw data.
//
// Read throws fwbench::UsageError naming the file and what is wrong (a missing or truncated file,
// a wrong magic, a header that is not that dict, a dtype other than little-endian float32,
// int64 or int32, Fortran order, a data size that does not match the shape).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace fwbench::npy {

struct Array {
  std::string dtype;  // numpy's name: float32, int64, int32
  std::vector<std::int64_t> shape;
  std::vector<std::byte> data;  // C order, little-endian
};

Array Read(const std::filesystem::path& path);
// The same from a whole file's bytes; `where` names the file in errors.
Array Parse(std::string_view bytes, const std::string& where);

// Parses the header dict's text; `where` names the file in errors.
void ParseHeader(const std::string& header, const std::string& where, Array& out);

}  // namespace fwbench::npy
