#include "data/cifar10.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <system_error>

#include "core/error.h"

namespace fwbench::data {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFormatHint = "CIFAR-10 records are 3073 bytes: 1 label + 3072 pixels";
constexpr const char* kDirHint =
    "a CIFAR-10 binary directory (cifar-10-batches-bin, from cifar-10-binary.tar.gz at "
    "https://www.cs.toronto.edu/~kriz/cifar.html) contains data_batch_1.bin .. "
    "data_batch_5.bin and test_batch.bin; point the data path at it or generate a synthetic "
    "set instead";

// Returns the size of a readable regular file, or throws a UsageError saying why not.
std::size_t CheckedFileSize(const fs::path& file) {
  std::error_code ec;
  const fs::file_status status = fs::status(file, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    throw UsageError(fmt::format("{}: cannot access ({}).", file.string(), ec.message()));
  }
  if (!fs::exists(status)) {
    throw UsageError(fmt::format("{}: no such file; expected a CIFAR-10 binary batch file ({}).",
                                 file.string(), kDirHint));
  }
  if (!fs::is_regular_file(status)) {
    throw UsageError(fmt::format("{}: not a regular file; expected a CIFAR-10 binary batch file.",
                                 file.string()));
  }
  const std::uintmax_t size = fs::file_size(file, ec);
  if (ec) {
    throw UsageError(fmt::format("{}: cannot read its size ({}).", file.string(), ec.message()));
  }
  return static_cast<std::size_t>(size);
}

// Appends the records of one file to `out`. Whole-file read + one memcpy per record: the six
// real files are 30 MB each and are re-read by every fresh worker process.
void AppendCifar10File(const fs::path& file, ImageSet& out) {
  const std::size_t size = CheckedFileSize(file);
  if (size == 0) {
    throw UsageError(
        fmt::format("{}: file is empty (0 bytes; {}). Re-download or regenerate "
                    "the file.",
                    file.string(), kFormatHint));
  }
  if (size % kRecordBytes != 0) {
    const std::size_t offset = size / kRecordBytes * kRecordBytes;
    throw UsageError(
        fmt::format("{}: truncated record at byte offset {} (file is {} bytes; {}). "
                    "Re-download or regenerate the file.",
                    file.string(), offset, size, kFormatHint));
  }

  std::vector<std::uint8_t> raw(size);
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw UsageError(
        fmt::format("{}: cannot open for reading ({}).", file.string(), std::strerror(errno)));
  }
  in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(size));
  if (static_cast<std::size_t>(in.gcount()) != size) {
    throw UsageError(
        fmt::format("{}: read only {} of {} bytes; the file changed while being "
                    "read or the disk is failing.",
                    file.string(), in.gcount(), size));
  }

  const std::size_t records = size / kRecordBytes;
  const std::size_t first = out.size();
  out.labels.resize(first + records);
  out.pixels.resize((first + records) * kImageBytes);
  for (std::size_t r = 0; r < records; ++r) {
    const std::uint8_t* record = raw.data() + r * kRecordBytes;
    if (record[0] >= kNumClasses) {
      throw UsageError(
          fmt::format("{}: record {} (byte offset {}) has label {}; CIFAR-10 labels "
                      "are 0-9. The file is corrupt or not a CIFAR-10 binary batch "
                      "(CIFAR-100 uses 2 label bytes); re-download or regenerate it.",
                      file.string(), r, r * kRecordBytes, record[0]));
    }
    out.labels[first + r] = record[0];
    std::memcpy(out.pixels.data() + (first + r) * kImageBytes, record + 1, kImageBytes);
  }
}

}  // namespace

std::vector<std::string> Cifar10FileNames(Split split) {
  if (split == Split::kTest) return {"test_batch.bin"};
  return {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
          "data_batch_5.bin"};
}

ImageSet ReadCifar10File(const fs::path& file) {
  ImageSet set;
  AppendCifar10File(file, set);
  return set;
}

ImageSet ReadCifar10Dir(const fs::path& dir, Split split) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw UsageError(fmt::format("{}: CIFAR-10 directory {}; {}.", dir.string(),
                                 fs::exists(dir, ec) ? "is not a directory" : "does not exist",
                                 kDirHint));
  }
  const std::vector<std::string> names = Cifar10FileNames(split);
  std::string missing;
  std::size_t total_bytes = 0;
  for (const std::string& name : names) {
    const fs::path file = dir / name;
    if (!fs::is_regular_file(file, ec)) {
      missing += missing.empty() ? name : ", " + name;
    } else {
      const std::uintmax_t size = fs::file_size(file, ec);
      if (!ec) total_bytes += static_cast<std::size_t>(size);  // only a reserve() hint
    }
  }
  if (!missing.empty()) {
    // The tarball unpacks into cifar-10-batches-bin/; pointing one level too high is common.
    const bool nested = fs::is_directory(dir / "cifar-10-batches-bin", ec);
    throw UsageError(fmt::format("{}: missing {} of the CIFAR-10 {} split; {}.{}", dir.string(),
                                 missing, split == Split::kTrain ? "train" : "test", kDirHint,
                                 nested ? " (This directory has a cifar-10-batches-bin "
                                          "subdirectory: use that path.)"
                                        : ""));
  }

  ImageSet set;
  set.labels.reserve(total_bytes / kRecordBytes);
  set.pixels.reserve(total_bytes / kRecordBytes * kImageBytes);
  for (const std::string& name : names) AppendCifar10File(dir / name, set);
  return set;
}

void WriteCifar10File(const fs::path& file, const ImageSet& set) {
  if (set.pixels.size() != set.size() * kImageBytes) {
    throw std::invalid_argument(
        fmt::format("WriteCifar10File: {} labels but {} pixel bytes "
                    "(expected {} per image)",
                    set.size(), set.pixels.size(), kImageBytes));
  }
  std::vector<std::uint8_t> raw(set.size() * kRecordBytes);
  for (std::size_t r = 0; r < set.size(); ++r) {
    if (set.labels[r] >= kNumClasses) {
      throw std::invalid_argument(
          fmt::format("WriteCifar10File: image {} has label {} (must be < 10)", r, set.labels[r]));
    }
    raw[r * kRecordBytes] = set.labels[r];
    std::memcpy(raw.data() + r * kRecordBytes + 1, set.image(r), kImageBytes);
  }

  // The pid keeps concurrent writers (fresh worker processes) off each other's temp files;
  // rename() then replaces the target atomically.
  fs::path tmp = file;
  tmp += fmt::format(".tmp.{}", static_cast<long>(::getpid()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (out) {
      out.write(reinterpret_cast<const char*>(raw.data()),
                static_cast<std::streamsize>(raw.size()));
      out.close();
    }
    if (!out) {
      std::error_code ignored;
      fs::remove(tmp, ignored);
      throw UsageError(
          fmt::format("{}: cannot write ({}); check that the directory exists, is "
                      "writable and the disk is not full.",
                      tmp.string(), std::strerror(errno)));
    }
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw UsageError(fmt::format("{}: cannot rename the written temporary file into place ({}).",
                                 file.string(), ec.message()));
  }
}

}  // namespace fwbench::data
