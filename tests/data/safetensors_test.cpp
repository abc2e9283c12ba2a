#include "data/safetensors.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"

namespace fwbench::safetensors {
namespace {

namespace fs = std::filesystem;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           (std::string("fwbench_safetensors_") + info->test_suite_name() + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

std::vector<std::byte> Pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = static_cast<std::byte>((i * 131 + seed * 17 + 7) & 0xFF);
  }
  return out;
}

template <typename T>
std::span<const std::byte> AsBytes(const std::vector<T>& v) {
  return std::as_bytes(std::span<const T>(v));
}

// A raw file: 8-byte header length (or an override), header text, data.
void WriteRaw(const fs::path& path, const std::string& header, std::size_t data_bytes,
              std::optional<std::uint64_t> header_len = std::nullopt) {
  std::ofstream out(path, std::ios::binary);
  const std::uint64_t len = header_len.value_or(header.size());
  out.write(reinterpret_cast<const char*>(&len), sizeof len);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  const std::string data(data_bytes, '\x01');
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

TEST(DTypeTest, NamesAndSizes) {
  EXPECT_EQ(DTypeName(DType::kF32), "F32");
  EXPECT_EQ(DTypeName(DType::kBF16), "BF16");
  EXPECT_EQ(DTypeName(DType::kBool), "BOOL");
  EXPECT_EQ(ElementSize(DType::kF64), 8u);
  EXPECT_EQ(ElementSize(DType::kF16), 2u);
  EXPECT_EQ(ElementSize(DType::kU8), 1u);
  EXPECT_EQ(ElementSize(DType::kI32), 4u);
  EXPECT_EQ(AllDTypes().size(), 10u);
  for (DType d : AllDTypes()) {
    const auto parsed = ParseDType(DTypeName(d));
    ASSERT_TRUE(parsed.has_value()) << DTypeName(d);
    EXPECT_EQ(*parsed, d);
  }
  EXPECT_FALSE(ParseDType("f32").has_value());
  EXPECT_FALSE(ParseDType("F8_E4M3").has_value());
  EXPECT_FALSE(ParseDType("").has_value());
}

TEST_F(SafetensorsTest, RoundTripEveryDType) {
  const auto& dtypes = AllDTypes();
  std::vector<std::vector<std::byte>> storage;
  std::vector<TensorToWrite> tensors;
  for (std::size_t i = 0; i < dtypes.size(); ++i) {
    const std::vector<std::int64_t> shape = {2, static_cast<std::int64_t>(i + 1), 3};
    const std::size_t n = 2 * (i + 1) * 3 * ElementSize(dtypes[i]);
    storage.push_back(Pattern(n, static_cast<unsigned>(i)));
    if (dtypes[i] == DType::kBool) {
      for (auto& b : storage.back()) b = static_cast<std::byte>(std::to_integer<int>(b) & 1);
    }
  }
  for (std::size_t i = 0; i < dtypes.size(); ++i) {
    const std::vector<std::int64_t> shape = {2, static_cast<std::int64_t>(i + 1), 3};
    // Reverse order on purpose: the writer must sort by name.
    tensors.insert(tensors.begin(), TensorToWrite{"t_" + std::string(DTypeName(dtypes[i])),
                                                  dtypes[i], shape, storage[i]});
  }
  const auto path = dir_ / "all.safetensors";
  Write(path, tensors);

  const File file = File::Read(path);
  ASSERT_EQ(file.tensors().size(), dtypes.size());
  EXPECT_TRUE(file.metadata().empty());
  for (std::size_t i = 1; i < file.tensors().size(); ++i) {
    EXPECT_LT(file.tensors()[i - 1].name, file.tensors()[i].name);
    // Data laid out in name order.
    EXPECT_EQ(file.tensors()[i - 1].end, file.tensors()[i].begin);
  }
  EXPECT_EQ(file.tensors().front().begin, 0u);
  for (std::size_t i = 0; i < dtypes.size(); ++i) {
    const std::string name = "t_" + std::string(DTypeName(dtypes[i]));
    const TensorInfo* info = file.Find(name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_EQ(info->name, name);
    EXPECT_EQ(info->dtype, dtypes[i]);
    EXPECT_EQ(info->shape, (std::vector<std::int64_t>{2, static_cast<std::int64_t>(i + 1), 3}));
    EXPECT_EQ(info->num_elements(), static_cast<std::int64_t>(6 * (i + 1)));
    const auto bytes = file.Bytes(*info);
    ASSERT_EQ(bytes.size(), storage[i].size());
    EXPECT_EQ(std::memcmp(bytes.data(), storage[i].data(), bytes.size()), 0) << name;
  }
  EXPECT_EQ(file.Find("missing"), nullptr);
  EXPECT_EQ(file.Find("t_"), nullptr);

  // Header padded to a multiple of 8 so the data section is aligned.
  std::ifstream in(path, std::ios::binary);
  std::uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), sizeof header_len);
  EXPECT_EQ(header_len % 8, 0u);
  // Temporary file renamed away.
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 1u);
}

TEST_F(SafetensorsTest, ScalarsEmptyTensorsAndMetadata) {
  const std::vector<float> scalar = {3.5f};
  const std::vector<float> empty;
  const std::vector<std::int64_t> counts = {1, -2, 3};
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"arch", "resnet50"}, {"note", "unicode \xC3\xA9 and \"quotes\""}};
  const auto path = dir_ / "mixed.safetensors";
  Write(path,
        {{"scalar", DType::kF32, {}, AsBytes(scalar)},
         {"empty", DType::kF32, {0, 4}, AsBytes(empty)},
         {"counts", DType::kI64, {3}, AsBytes(counts)}},
        metadata);
  const File file = File::Read(path);
  EXPECT_EQ(file.metadata(), metadata);
  ASSERT_EQ(file.tensors().size(), 3u);
  const auto* s = file.Find("scalar");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->shape.empty());
  EXPECT_EQ(s->num_elements(), 1);
  EXPECT_EQ(ToFloat32(file, *s), scalar);
  const auto* e = file.Find("empty");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->num_bytes(), 0u);
  EXPECT_EQ(e->num_elements(), 0);
  const auto* c = file.Find("counts");
  ASSERT_NE(c, nullptr);
  std::vector<std::int64_t> read(3);
  std::memcpy(read.data(), file.Bytes(*c).data(), 24);
  EXPECT_EQ(read, counts);
}

TEST_F(SafetensorsTest, EmptyFileRoundTrip) {
  const auto path = dir_ / "none.safetensors";
  Write(path, {});
  const File file = File::Read(path);
  EXPECT_TRUE(file.tensors().empty());
  EXPECT_TRUE(file.metadata().empty());
}

TEST_F(SafetensorsTest, WriteOverwritesAtomically) {
  const auto path = dir_ / "w.safetensors";
  const std::vector<float> a = {1, 2, 3};
  const std::vector<float> b = {4, 5};
  Write(path, {{"x", DType::kF32, {3}, AsBytes(a)}});
  Write(path, {{"y", DType::kF32, {2}, AsBytes(b)}});
  const File file = File::Read(path);
  ASSERT_EQ(file.tensors().size(), 1u);
  EXPECT_EQ(file.tensors()[0].name, "y");
  EXPECT_EQ(ToFloat32(file, file.tensors()[0]), b);
}

TEST_F(SafetensorsTest, WriteRejectsBadArguments) {
  const std::vector<float> a = {1, 2, 3};
  const auto path = dir_ / "bad.safetensors";
  EXPECT_THROW(Write(path, {{"x", DType::kF32, {4}, AsBytes(a)}}), std::invalid_argument);
  EXPECT_THROW(Write(path, {{"x", DType::kF32, {-3}, AsBytes(a)}}), std::invalid_argument);
  EXPECT_THROW(Write(path, {{"", DType::kF32, {3}, AsBytes(a)}}), std::invalid_argument);
  EXPECT_THROW(Write(path, {{"__metadata__", DType::kF32, {3}, AsBytes(a)}}),
               std::invalid_argument);
  EXPECT_THROW(
      Write(path, {{"x", DType::kF32, {3}, AsBytes(a)}, {"x", DType::kF32, {3}, AsBytes(a)}}),
      std::invalid_argument);
  EXPECT_FALSE(fs::exists(path));
  try {
    Write(dir_ / "no_such_dir" / "x.safetensors", {{"x", DType::kF32, {3}, AsBytes(a)}});
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_dir"), std::string::npos) << e.what();
  }
}

TEST_F(SafetensorsTest, MissingFileIsUsageError) {
  const auto path = dir_ / "absent.safetensors";
  try {
    File::Read(path);
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cannot open"), std::string::npos) << e.what();
  }
}

struct CorruptCase {
  const char* label;
  std::string header;
  std::size_t data_bytes;
  std::optional<std::uint64_t> header_len;  // override of the 8-byte prefix
  const char* expected_message;             // substring of the error
  std::size_t truncate_to = 0;              // if > 0: file cut to this many bytes
};

std::vector<CorruptCase> CorruptCases() {
  const std::string ok_a = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  return {
      {"shorter than 8 bytes", "", 0, std::nullopt, "expected at least 8 bytes", 5},
      {"header length 0", "", 0, 0, "header length is 0"},
      {"header longer than file", "{}", 0, 1000, "larger than the 2 bytes that follow"},
      {"header over 100 MB", "{}", 0, 200'000'000, "exceeds the limit"},
      {"invalid JSON", "{\"a\": [1, 2", 0, std::nullopt, "not valid JSON"},
      {"nested 30,000 deep (issue 17)",
       "{\"__metadata__\":" + std::string(30'000, '[') + std::string(30'000, ']') + "}", 0,
       std::nullopt, "more than 64 levels deep"},
      {"trailing garbage", "{} xyz", 0, std::nullopt, "not valid JSON"},
      {"invalid UTF-8", "{\"\xff\xfe\": 1}", 0, std::nullopt, "not valid JSON"},
      {"header is an array", "[1, 2]", 0, std::nullopt,
       "header is a JSON array; expected a JSON "
       "object"},
      {"entry not an object", R"({"a": 5})", 0, std::nullopt, "header entry 'a' is a JSON number"},
      {"missing dtype", R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8, std::nullopt,
       "tensor 'a' has no \"dtype\""},
      {"missing shape", R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8, std::nullopt,
       "tensor 'a' has no \"shape\""},
      {"missing data_offsets", R"({"a":{"dtype":"F32","shape":[2]}})", 8, std::nullopt,
       "tensor 'a' has no \"data_offsets\""},
      {"dtype not a string", R"({"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", 8,
       std::nullopt, "dtype is a JSON number; expected a string"},
      {"unknown dtype", R"({"a":{"dtype":"F8_E5M2","shape":[2],"data_offsets":[0,2]}})", 2,
       std::nullopt, "unknown dtype \"F8_E5M2\"; expected one of F64, F32"},
      {"shape not an array", R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8,
       std::nullopt, "shape is a JSON number; expected an array"},
      {"negative dim", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8,
       std::nullopt, "negative shape dimension -2"},
      {"fractional dim", R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8,
       std::nullopt, "contains a non-integer"},
      {"offsets not a pair", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8,
       std::nullopt, "data_offsets [0] is invalid"},
      {"negative offset", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8,
       std::nullopt, "data_offsets [-8,0] is invalid"},
      {"begin after end", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8,
       std::nullopt, "has begin > end"},
      {"end beyond data", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4,
       std::nullopt, "end 8 is beyond the data section of 4 bytes"},
      {"length mismatch", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8,
       std::nullopt, "span 8 bytes; expected 12 bytes for dtype F32 and shape [3]"},
      {"shape overflow",
       R"({"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8,
       std::nullopt, "expected (overflow) bytes"},
      {"overlap", "{" + ok_a + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12,
       std::nullopt, "tensor 'b' [4, 12] overlaps tensor 'a' [0, 8]"},
      {"empty tensor inside another",
       "{" + ok_a + R"(,"b":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})", 8, std::nullopt,
       "overlaps"},
      {"gap in the middle",
       "{" + ok_a + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})", 20, std::nullopt,
       "bytes [8, 12) belong to no tensor"},
      {"gap at the start", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12,
       std::nullopt, "bytes [0, 4) belong to no tensor"},
      {"trailing bytes", "{" + ok_a + "}", 10, std::nullopt,
       "bytes [8, 10) at the end belong to no tensor"},
      {"metadata not an object", "{" + ok_a + R"(,"__metadata__":[1]})", 8, std::nullopt,
       "\"__metadata__\" is a JSON array; expected an object of string -> string"},
      {"metadata value not a string", "{" + ok_a + R"(,"__metadata__":{"epoch":3}})", 8,
       std::nullopt, "\"__metadata__\" value of 'epoch' is a JSON number; expected a string"},
      // nlohmann keeps the last duplicate: 'a' [0,8] disappears and its bytes become a gap.
      {"duplicate name",
       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
       16, std::nullopt, "bytes [0, 8) belong to no tensor"},
  };
}

TEST_F(SafetensorsTest, CorruptFilesAreUsageErrors) {
  int i = 0;
  for (const auto& c : CorruptCases()) {
    SCOPED_TRACE(c.label);
    const auto path = dir_ / ("corrupt_" + std::to_string(i++) + ".safetensors");
    WriteRaw(path, c.header, c.data_bytes, c.header_len);
    if (c.truncate_to > 0) fs::resize_file(path, c.truncate_to);
    try {
      File::Read(path);
      ADD_FAILURE() << "no error for: " << c.label;
    } catch (const UsageError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
      EXPECT_NE(msg.find(c.expected_message), std::string::npos)
          << "message: " << msg << "\nexpected to contain: " << c.expected_message;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "wrong exception type: " << e.what();
    }
  }
}

TEST_F(SafetensorsTest, ValidHandWrittenFileWithUnknownKeysAndPadding) {
  const auto path = dir_ / "hand.safetensors";
  // Unordered offsets, an extra key, trailing spaces: all allowed.
  WriteRaw(path,
           R"({"b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
           R"("a":{"dtype":"I16","shape":[2],"data_offsets":[4,8],"extra":true}}   )",
           8);
  const File file = File::Read(path);
  ASSERT_EQ(file.tensors().size(), 2u);
  EXPECT_EQ(file.tensors()[0].name, "a");
  EXPECT_EQ(file.tensors()[0].begin, 4u);
  EXPECT_EQ(file.tensors()[1].name, "b");
}

TEST_F(SafetensorsTest, ToFloat32ConvertsFloatingDTypes) {
  const std::vector<float> f32 = {1.0f, -2.5f, 1e-3f};
  const std::vector<double> f64 = {1.0, -2.5, 0.1};
  std::vector<std::uint16_t> f16;
  std::vector<std::uint16_t> bf16;
  for (float v : f32) {
    f16.push_back(FloatToHalf(v));
    bf16.push_back(FloatToBFloat16(v));
  }
  const std::vector<std::int64_t> ints = {1, 2, 3};
  const auto path = dir_ / "f.safetensors";
  Write(path, {{"f32", DType::kF32, {3}, AsBytes(f32)},
               {"f64", DType::kF64, {3}, AsBytes(f64)},
               {"f16", DType::kF16, {3}, AsBytes(f16)},
               {"bf16", DType::kBF16, {3}, AsBytes(bf16)},
               {"i64", DType::kI64, {3}, AsBytes(ints)}});
  const File file = File::Read(path);
  EXPECT_EQ(ToFloat32(file, *file.Find("f32")), f32);
  EXPECT_EQ(ToFloat32(file, *file.Find("f64")), (std::vector<float>{1.0f, -2.5f, 0.1f}));
  const auto h = ToFloat32(file, *file.Find("f16"));
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -2.5f);
  EXPECT_NEAR(h[2], 1e-3f, 1e-3f * 1e-3f);
  const auto b = ToFloat32(file, *file.Find("bf16"));
  EXPECT_EQ(b[0], 1.0f);
  EXPECT_EQ(b[1], -2.5f);
  EXPECT_NEAR(b[2], 1e-3f, 1e-3f * 8e-3f);
  try {
    ToFloat32(file, *file.Find("i64"));
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("'i64' has dtype I64"), std::string::npos) << msg;
  }
}

float Bits(std::uint32_t b) { return std::bit_cast<float>(b); }

TEST(HalfTest, KnownValues) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3C00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xC000);
  EXPECT_EQ(FloatToHalf(0.0f), 0x0000);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7BFF);  // largest half
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7BFF);  // below the halfway point
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7C00);  // halfway: ties to even = inf
  EXPECT_EQ(FloatToHalf(1e6f), 0x7C00);      // overflow
  EXPECT_EQ(FloatToHalf(-1e6f), 0xFC00);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -14)), 0x0400);     // smallest normal
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)), 0x0001);     // smallest subnormal
  EXPECT_EQ(FloatToHalf(std::ldexp(1023.0f, -24)), 0x03FF);  // largest subnormal
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);     // tie between 0 and 2^-24 -> 0
  EXPECT_EQ(FloatToHalf(std::ldexp(3.0f, -25)), 0x0002);     // tie between 1 and 2 -> 2 (even)
  EXPECT_EQ(FloatToHalf(std::ldexp(1.5f, -25)), 0x0001);     // above the tie
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -26)), 0x0000);
  EXPECT_EQ(FloatToHalf(Bits(0x00000001)), 0x0000);          // float subnormal
  EXPECT_EQ(FloatToHalf(std::ldexp(2047.0f, -25)), 0x0400);  // rounds up into the normals
  // Rounding ties to even for normals: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10.
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(3.0f, -11)), 0x3C02);
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3C01);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(FloatToHalf(-std::numeric_limits<float>::infinity()), 0xFC00);
  const std::uint16_t nan = FloatToHalf(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x03FF, 0);
  // A signalling NaN whose payload lives only in the low bits must stay NaN.
  EXPECT_NE(FloatToHalf(Bits(0x7F800001)) & 0x03FF, 0);

  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xC000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x7BFF), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0400), std::ldexp(1.0f, -14));
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(HalfToFloat(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_EQ(HalfToFloat(0x8001), -std::ldexp(1.0f, -24));
  EXPECT_EQ(HalfToFloat(0x3555), Bits(0x3EAAA000));  // 0.333251953125
  EXPECT_TRUE(std::signbit(HalfToFloat(0x8000)));
  EXPECT_EQ(HalfToFloat(0x8000), 0.0f);
  EXPECT_EQ(HalfToFloat(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(HalfToFloat(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7E00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7C01)));
}

TEST(HalfTest, EveryHalfRoundTrips) {
  for (std::uint32_t h = 0; h <= 0xFFFF; ++h) {
    const auto half = static_cast<std::uint16_t>(h);
    const float f = HalfToFloat(half);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(f)))) << h;
      continue;
    }
    ASSERT_EQ(FloatToHalf(f), half) << "half 0x" << std::hex << h;
  }
}

TEST(BFloat16Test, KnownValues) {
  EXPECT_EQ(FloatToBFloat16(1.0f), 0x3F80);
  EXPECT_EQ(FloatToBFloat16(-2.0f), 0xC000);
  EXPECT_EQ(FloatToBFloat16(65504.0f), 0x4780);  // 65504 is not representable: rounds to 65536
  EXPECT_EQ(BFloat16ToFloat(0x4780), 65536.0f);
  EXPECT_EQ(FloatToBFloat16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);  // tie -> even
  EXPECT_EQ(FloatToBFloat16(1.0f + std::ldexp(3.0f, -8)), 0x3F82);  // tie -> even
  EXPECT_EQ(FloatToBFloat16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3F81);
  EXPECT_EQ(FloatToBFloat16(Bits(0x00010000)), 0x0001);  // subnormal, exact
  EXPECT_EQ(FloatToBFloat16(Bits(0x00008000)), 0x0000);  // subnormal tie -> even (0)
  EXPECT_EQ(FloatToBFloat16(Bits(0x00018000)), 0x0002);  // subnormal tie -> even (2)
  EXPECT_EQ(BFloat16ToFloat(0x0001), Bits(0x00010000));
  EXPECT_EQ(FloatToBFloat16(std::numeric_limits<float>::max()), 0x7F80);  // rounds to inf
  EXPECT_EQ(FloatToBFloat16(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_EQ(FloatToBFloat16(-std::numeric_limits<float>::infinity()), 0xFF80);
  EXPECT_TRUE(
      std::isnan(BFloat16ToFloat(FloatToBFloat16(std::numeric_limits<float>::quiet_NaN()))));
  // NaN whose payload is only in the low 16 bits must not turn into inf.
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(Bits(0x7F800001)))));
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(Bits(0xFFFFFFFF)))));
  EXPECT_EQ(BFloat16ToFloat(0x3F80), 1.0f);
  EXPECT_EQ(BFloat16ToFloat(0xC000), -2.0f);
  EXPECT_TRUE(std::signbit(BFloat16ToFloat(0x8000)));
}

TEST(BFloat16Test, EveryBFloat16RoundTrips) {
  for (std::uint32_t b = 0; b <= 0xFFFF; ++b) {
    const auto bf = static_cast<std::uint16_t>(b);
    const float f = BFloat16ToFloat(bf);
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToBFloat16(f), bf) << "bf16 0x" << std::hex << b;
  }
}

}  // namespace
}  // namespace fwbench::safetensors
