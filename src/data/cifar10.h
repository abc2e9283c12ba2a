#pragma once
// The CIFAR-10 binary format ("cifar-10-batches-bin"): files of fixed-size records, each one
// label byte followed by 3072 pixel bytes in planar RGB (1024 R, 1024 G, 1024 B; each plane
// row-major 32x32). See docs/data.md.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace fwbench::data {

inline constexpr std::size_t kImageSide = 32;
inline constexpr std::size_t kImageChannels = 3;
inline constexpr std::size_t kImagePlane = kImageSide * kImageSide;       // 1024
inline constexpr std::size_t kImageBytes = kImageChannels * kImagePlane;  // 3072
inline constexpr std::size_t kRecordBytes = 1 + kImageBytes;              // 3073
inline constexpr std::size_t kNumClasses = 10;

// Decoded images kept as uint8 so the batcher can crop exactly (normalisation happens per
// batch). Image i occupies pixels[i*kImageBytes, (i+1)*kImageBytes) in the on-disk CHW layout.
struct ImageSet {
  std::vector<std::uint8_t> labels;  // one per image, each < kNumClasses
  std::vector<std::uint8_t> pixels;  // size() * kImageBytes

  std::size_t size() const { return labels.size(); }
  const std::uint8_t* image(std::size_t i) const { return pixels.data() + i * kImageBytes; }
};

enum class Split { kTrain, kTest };

// The file names of a split in the order they are concatenated: data_batch_1.bin ..
// data_batch_5.bin for kTrain, test_batch.bin for kTest.
std::vector<std::string> Cifar10FileNames(Split split);

// Reads and validates one batch file with a single read. Throws fwbench::UsageError naming the
// file (and the record / byte offset) when it is missing, empty, truncated or has a label >= 10.
ImageSet ReadCifar10File(const std::filesystem::path& file);

// Reads a split from a CIFAR-10 binary directory. Throws fwbench::UsageError listing every
// missing file when the directory or any file of the split is absent.
ImageSet ReadCifar10Dir(const std::filesystem::path& dir, Split split);

// Writes `set` in the binary format, via a temporary file renamed into place so readers never
// see a partial file. Throws std::invalid_argument for an inconsistent set, fwbench::UsageError
// when the file cannot be written.
void WriteCifar10File(const std::filesystem::path& file, const ImageSet& set);

}  // namespace fwbench::data
