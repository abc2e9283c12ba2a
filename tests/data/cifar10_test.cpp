#include "data/cifar10.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <iterator>
#include <stdexcept>
#include <string>

#include "core/error.h"

namespace fwbench::data {
namespace {

namespace fs = std::filesystem;

// n images with label i % 10 and pixel bytes that differ per image and position.
ImageSet MakeSet(std::size_t n, std::uint8_t label_offset = 0) {
  ImageSet set;
  for (std::size_t i = 0; i < n; ++i) {
    set.labels.push_back(static_cast<std::uint8_t>((i + label_offset) % 10));
    for (std::size_t k = 0; k < kImageBytes; ++k) {
      set.pixels.push_back(static_cast<std::uint8_t>((i * 31 + k * 7) % 256));
    }
  }
  return set;
}

std::string ReadBytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteBytes(const fs::path& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
}

// Substring check with the whole text in the failure message (gmock is not linked).
::testing::AssertionResult HasText(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << part << "\" not in \"" << text << "\"";
}

// The message of the UsageError `fn` throws ("" plus a test failure when it throws none).
std::string UsageErrorOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const UsageError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a fwbench::UsageError";
  return "";
}

class Cifar10Test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("fwbench_cifar10_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

TEST_F(Cifar10Test, RoundTripPreservesLabelsAndPixels) {
  const ImageSet set = MakeSet(13);
  WriteCifar10File(dir_ / "a.bin", set);
  const ImageSet back = ReadCifar10File(dir_ / "a.bin");
  EXPECT_EQ(back.labels, set.labels);
  EXPECT_EQ(back.pixels, set.pixels);
  // Only the file itself is left: the temporary was renamed into place.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(Cifar10Test, WrittenBytesFollowTheRecordLayout) {
  const ImageSet set = MakeSet(2, 3);
  WriteCifar10File(dir_ / "a.bin", set);
  const std::string bytes = ReadBytes(dir_ / "a.bin");
  ASSERT_EQ(bytes.size(), 2 * 3073u);
  EXPECT_EQ(bytes[0], 3);     // label of record 0
  EXPECT_EQ(bytes[3073], 4);  // label of record 1
  // Record 1, green plane (offset 1024), row 2, column 5 = pixel byte 1024 + 2*32 + 5.
  const std::size_t k = 1024 + 2 * 32 + 5;
  EXPECT_EQ(static_cast<std::uint8_t>(bytes[3073 + 1 + k]), set.pixels[kImageBytes + k]);
}

TEST_F(Cifar10Test, TruncatedFileNamesFileSizeAndOffset) {
  WriteCifar10File(dir_ / "data_batch_3.bin", MakeSet(10));
  std::string bytes = ReadBytes(dir_ / "data_batch_3.bin");
  bytes.resize(30800);  // 10 whole records (30730 bytes) + 70 bytes of an 11th
  WriteBytes(dir_ / "data_batch_3.bin", bytes);
  const std::string message = UsageErrorOf([&] { ReadCifar10File(dir_ / "data_batch_3.bin"); });
  EXPECT_TRUE(HasText(message, "data_batch_3.bin"));
  EXPECT_TRUE(HasText(message, "truncated record at byte offset 30730"));
  EXPECT_TRUE(HasText(message, "30800 bytes"));
  EXPECT_TRUE(HasText(message, "3073"));
}

TEST_F(Cifar10Test, FileShorterThanOneRecordIsTruncatedAtZero) {
  WriteBytes(dir_ / "short.bin", std::string(100, '\1'));
  EXPECT_TRUE(HasText(UsageErrorOf([&] { ReadCifar10File(dir_ / "short.bin"); }),
                      "truncated record at byte offset 0 (file is 100 bytes"));
}

TEST_F(Cifar10Test, BadLabelNamesRecordAndOffset) {
  WriteCifar10File(dir_ / "b.bin", MakeSet(5));
  std::string bytes = ReadBytes(dir_ / "b.bin");
  bytes[3 * 3073] = 12;
  WriteBytes(dir_ / "b.bin", bytes);
  const std::string message = UsageErrorOf([&] { ReadCifar10File(dir_ / "b.bin"); });
  EXPECT_TRUE(HasText(message, "b.bin"));
  EXPECT_TRUE(HasText(message, "record 3 (byte offset 9219) has label 12"));
}

TEST_F(Cifar10Test, EmptyFileIsRejected) {
  WriteBytes(dir_ / "empty.bin", "");
  const std::string message = UsageErrorOf([&] { ReadCifar10File(dir_ / "empty.bin"); });
  EXPECT_TRUE(HasText(message, "empty.bin"));
  EXPECT_TRUE(HasText(message, "empty (0 bytes"));
}

TEST_F(Cifar10Test, MissingFileAndDirectoryAreRejected) {
  EXPECT_TRUE(
      HasText(UsageErrorOf([&] { ReadCifar10File(dir_ / "nope.bin"); }), "nope.bin: no such file"));
  EXPECT_TRUE(HasText(UsageErrorOf([&] { ReadCifar10File(dir_); }), "not a regular file"));
  const std::string message = UsageErrorOf([&] { ReadCifar10Dir(dir_ / "absent", Split::kTrain); });
  EXPECT_TRUE(HasText(message, "absent: CIFAR-10 directory does not exist"));
  EXPECT_TRUE(HasText(message, "cifar-10-batches-bin"));
  EXPECT_TRUE(HasText(message, "test_batch.bin"));
}

TEST_F(Cifar10Test, MissingFilesAreAllListed) {
  for (const char* name : {"data_batch_1.bin", "data_batch_2.bin", "data_batch_4.bin"}) {
    WriteCifar10File(dir_ / name, MakeSet(1));
  }
  const std::string message = UsageErrorOf([&] { ReadCifar10Dir(dir_, Split::kTrain); });
  EXPECT_TRUE(HasText(message,
                      "missing data_batch_3.bin, data_batch_5.bin of the CIFAR-10 "
                      "train split"));
  EXPECT_TRUE(HasText(message, "cifar-10-batches-bin"));
  EXPECT_TRUE(HasText(UsageErrorOf([&] { ReadCifar10Dir(dir_, Split::kTest); }),
                      "missing test_batch.bin of the CIFAR-10 test split"));
}

TEST_F(Cifar10Test, ParentOfTheTarballDirectoryGetsAHint) {
  fs::create_directories(dir_ / "cifar-10-batches-bin");
  EXPECT_TRUE(HasText(UsageErrorOf([&] { ReadCifar10Dir(dir_, Split::kTest); }),
                      "has a cifar-10-batches-bin subdirectory: use that path"));
}

TEST_F(Cifar10Test, TrainSplitConcatenatesBatchesInOrder) {
  // File k holds 3 + k records, all labelled k, so order and sizes are both visible.
  ImageSet expected;
  for (int k = 1; k <= 5; ++k) {
    ImageSet part = MakeSet(static_cast<std::size_t>(3 + k));
    part.labels.assign(part.size(), static_cast<std::uint8_t>(k));
    WriteCifar10File(dir_ / ("data_batch_" + std::to_string(k) + ".bin"), part);
    expected.labels.insert(expected.labels.end(), part.labels.begin(), part.labels.end());
    expected.pixels.insert(expected.pixels.end(), part.pixels.begin(), part.pixels.end());
  }
  WriteCifar10File(dir_ / "test_batch.bin", MakeSet(7, 9));
  const ImageSet train = ReadCifar10Dir(dir_, Split::kTrain);
  EXPECT_EQ(train.size(), 4u + 5 + 6 + 7 + 8);
  EXPECT_EQ(train.labels, expected.labels);
  EXPECT_EQ(train.pixels, expected.pixels);
  const ImageSet test = ReadCifar10Dir(dir_, Split::kTest);
  EXPECT_EQ(test.labels, MakeSet(7, 9).labels);
}

TEST_F(Cifar10Test, CorruptFileInsideDirectoryIsNamed) {
  for (const std::string& name : Cifar10FileNames(Split::kTrain)) {
    WriteCifar10File(dir_ / name, MakeSet(2));
  }
  WriteBytes(dir_ / "data_batch_4.bin", std::string(3073 + 5, '\0'));
  EXPECT_TRUE(HasText(UsageErrorOf([&] { ReadCifar10Dir(dir_, Split::kTrain); }),
                      "data_batch_4.bin: truncated record at byte offset 3073"));
}

TEST_F(Cifar10Test, WritingAnInconsistentSetIsAProgrammingError) {
  ImageSet set = MakeSet(2);
  set.pixels.pop_back();
  EXPECT_THROW(WriteCifar10File(dir_ / "x.bin", set), std::invalid_argument);
  set = MakeSet(2);
  set.labels[1] = 10;
  EXPECT_THROW(WriteCifar10File(dir_ / "x.bin", set), std::invalid_argument);
  EXPECT_FALSE(fs::exists(dir_ / "x.bin"));
}

TEST_F(Cifar10Test, UnwritableTargetIsAUsageError) {
  EXPECT_TRUE(
      HasText(UsageErrorOf([&] { WriteCifar10File(dir_ / "no_dir" / "x.bin", MakeSet(1)); }),
              "cannot write"));
}

}  // namespace
}  // namespace fwbench::data
