// NumPy .npy files (data/npy.h): what numpy.save writes reads back, and each way a file can be
// wrong is one message naming the file.
#include "data/npy.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"

namespace fwbench::npy {
namespace {

// A version 1.0 file as numpy.save writes it: the header padded with spaces to a multiple of 64.
std::filesystem::path Write(const std::string& name, const std::string& dict,
                            const std::string& data, const std::string& magic = "\x93NUMPY") {
  const auto path = std::filesystem::temp_directory_path() / ("fwbench_npy_" + name + ".npy");
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out << magic << '\x01' << '\x00' << static_cast<char>(header.size() & 0xff)
      << static_cast<char>(header.size() >> 8) << header << data;
  return path;
}

std::string ErrorOf(const std::filesystem::path& path) {
  try {
    Read(path);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(Npy, WhatNumpySaveWritesReadsBack) {
  const float values[6] = {1, 2, 3, 4, 5, 6};
  const auto path = Write("f32", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                          std::string(reinterpret_cast<const char*>(values), sizeof values));
  const Array a = Read(path);
  EXPECT_EQ(a.dtype, "float32");
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2, 3}));
  ASSERT_EQ(a.data.size(), sizeof values);
  float back[6];
  std::memcpy(back, a.data.data(), sizeof back);
  EXPECT_EQ(back[5], 6.0f);
  const std::int64_t ids[3] = {7, 8, 9};
  const Array v = Read(Write("i64", "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }",
                             std::string(reinterpret_cast<const char*>(ids), sizeof ids)));
  EXPECT_EQ(v.dtype, "int64");
  EXPECT_EQ(v.shape, (std::vector<std::int64_t>{3}));
}

TEST(Npy, EachBadFileIsOneMessageNamingTheFile) {
  const std::string f32 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  const auto truncated = Write("truncated", f32, std::string(20, '\0'));
  EXPECT_NE(ErrorOf(truncated).find(truncated.string() + ": 20 bytes of data for shape (2, 3) of "
                                                         "float32: expected 24"),
            std::string::npos)
      << ErrorOf(truncated);
  EXPECT_NE(ErrorOf(Write("magic", f32, std::string(24, '\0'), "PK\x03\x04zz")).find("not a .npy"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Write("f64", "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
                          std::string(24, '\0')))
                .find("dtype '<f8' is not one fwbench feeds"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Write("fortran", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                          std::string(24, '\0')))
                .find("Fortran order"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Write("shape", "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }",
                          std::string(24, '\0')))
                .find("is not a tuple"),
            std::string::npos);
  EXPECT_NE(
      ErrorOf(Write("nodescr", "{'fortran_order': False, 'shape': (2,), }", std::string(8, '\0')))
          .find("has no 'descr'"),
      std::string::npos);
  EXPECT_NE(ErrorOf("/nonexistent/x.npy").find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace fwbench::npy
