#include "data/synthetic.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>
#include <utility>

#include "core/bounded_json.h"
#include "core/error.h"
#include "data/image_batcher.h"

namespace fwbench::data {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kFiles = 6;  // data_batch_1..5.bin, test_batch.bin
constexpr const char* kGeneratorName = "fwbench-synthetic-cifar10";

// Classes c and c + 5 share colour group c % 5 and differ in grating orientation (vertical vs
// horizontal stripes), so colour alone gets a model only halfway: it has to learn shapes too.
// Both orientations are mirror-symmetric, so horizontal-flip augmentation keeps them apart.
constexpr int kGroupColour[5][3] = {
    {48, -24, -24},  // red
    {-24, 48, -24},  // green
    {-24, -24, 48},  // blue
    {36, 36, -40},   // yellow
    {-40, 36, 36},   // cyan
};
constexpr int kGroupCycles[5] = {2, 3, 4, 5, 6};  // grating cycles per 32 pixels
constexpr int kGratingAmplitude = 56;
constexpr int kNoiseHalfRange = 32;   // per-pixel noise in [-32, 32]
constexpr int kJitterHalfRange = 12;  // per-image, per-channel colour jitter
constexpr int kBrightHalfRange = 16;  // per-image brightness jitter

std::uint64_t FileStreamSeed(std::uint64_t seed, std::size_t file_index) {
  return Mix64(seed ^ Mix64(1000 + static_cast<std::uint64_t>(file_index)));
}

int Centered(SplitMix64& rng, int half_range) {
  return static_cast<int>(rng.Below(static_cast<std::uint64_t>(half_range) * 2 + 1)) - half_range;
}

void DrawImage(SplitMix64& rng, std::size_t label, std::uint8_t* out) {
  const std::size_t group = label % 5;
  const bool horizontal = label >= 5;
  const auto phase = static_cast<std::uint32_t>(rng.Below(1024));
  std::array<int, kImageChannels> base{};
  for (std::size_t c = 0; c < kImageChannels; ++c) {
    base[c] = 128 + kGroupColour[group][c] + Centered(rng, kJitterHalfRange);
  }
  const int brightness = Centered(rng, kBrightHalfRange);
  // Triangle wave with a period of 1024 phase units; 32 * cycles units per pixel.
  const auto step = static_cast<std::uint32_t>(32 * kGroupCycles[group]);
  std::array<int, kImagePlane> grating{};
  for (std::uint32_t y = 0; y < kImageSide; ++y) {
    for (std::uint32_t x = 0; x < kImageSide; ++x) {
      const std::uint32_t t = (phase + step * (horizontal ? y : x)) & 1023U;
      const int tri = static_cast<int>(t < 512 ? t : 1023 - t) * 2 - 511;  // [-511, 511]
      grating[y * kImageSide + x] = tri * kGratingAmplitude / 512;         // truncates toward zero
    }
  }
  // Noise bytes come 8 per draw, least significant byte first.
  std::uint64_t noise_bits = 0;
  for (std::size_t i = 0; i < kImageBytes; ++i) {
    if (i % 8 == 0) noise_bits = rng.Next();
    const int noise =
        static_cast<int>(noise_bits & 0xFF) % (2 * kNoiseHalfRange + 1) - kNoiseHalfRange;
    noise_bits >>= 8;
    const int value = base[i / kImagePlane] + brightness + grating[i % kImagePlane] + noise;
    out[i] = static_cast<std::uint8_t>(std::clamp(value, 0, 255));
  }
}

std::string MarkerText(const SyntheticOptions& options) {
  const nlohmann::json marker = {{"generator", kGeneratorName},
                                 {"version", kSyntheticVersion},
                                 {"seed", options.seed},
                                 {"train_per_file", options.train_per_file},
                                 {"test_records", options.test_records}};
  return marker.dump(2) + "\n";
}

std::size_t RecordsInFile(const SyntheticOptions& options, std::size_t file_index) {
  return file_index + 1 < kFiles ? options.train_per_file : options.test_records;
}

std::string FileName(std::size_t file_index) {
  return file_index + 1 < kFiles ? Cifar10FileNames(Split::kTrain)[file_index]
                                 : Cifar10FileNames(Split::kTest)[0];
}

}  // namespace

ImageSet GenerateSyntheticFile(std::uint64_t seed, std::size_t file_index, std::size_t count) {
  SplitMix64 rng(FileStreamSeed(seed, file_index));
  ImageSet set;
  set.labels.resize(count);
  for (std::size_t i = 0; i < count; ++i) set.labels[i] = static_cast<std::uint8_t>(i % 10);
  for (std::size_t i = count; i-- > 1;) {
    std::swap(set.labels[i], set.labels[static_cast<std::size_t>(rng.Below(i + 1))]);
  }
  set.pixels.resize(count * kImageBytes);
  for (std::size_t i = 0; i < count; ++i) {
    DrawImage(rng, set.labels[i], set.pixels.data() + i * kImageBytes);
  }
  return set;
}

void WriteSyntheticCifar10(const fs::path& dir, const SyntheticOptions& options) {
  if (options.train_per_file == 0 || options.test_records == 0) {
    throw UsageError(
        fmt::format("synthetic data: train_per_file ({}) and test_records ({}) must "
                    "both be at least 1.",
                    options.train_per_file, options.test_records));
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    throw UsageError(fmt::format("{}: cannot create the synthetic data directory ({}).",
                                 dir.string(), ec.message()));
  }
  // Drop the marker first: a run interrupted mid-way must not look up to date.
  fs::remove(dir / kSyntheticMarker, ec);
  for (std::size_t f = 0; f < kFiles; ++f) {
    WriteCifar10File(dir / FileName(f),
                     GenerateSyntheticFile(options.seed, f, RecordsInFile(options, f)));
  }

  const fs::path marker = dir / kSyntheticMarker;
  fs::path tmp = marker;
  tmp += fmt::format(".tmp.{}", static_cast<long>(::getpid()));
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << MarkerText(options);
    out.close();
    if (!out) {
      fs::remove(tmp, ec);
      throw UsageError(fmt::format("{}: cannot write the synthetic data marker.", tmp.string()));
    }
  }
  fs::rename(tmp, marker, ec);
  if (ec) {
    throw UsageError(fmt::format("{}: cannot rename the marker into place ({}).", marker.string(),
                                 ec.message()));
  }
}

bool SyntheticUpToDate(const fs::path& dir, const SyntheticOptions& options) {
  std::ifstream in(dir / kSyntheticMarker);
  if (!in) return false;
  const nlohmann::json marker = ParseJsonOrDiscard(
      std::string{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()});
  if (marker.is_discarded() || marker != nlohmann::json::parse(MarkerText(options))) return false;
  for (std::size_t f = 0; f < kFiles; ++f) {
    std::error_code ec;
    const std::uintmax_t size = fs::file_size(dir / FileName(f), ec);
    if (ec || size != RecordsInFile(options, f) * kRecordBytes) return false;
  }
  return true;
}

bool EnsureSyntheticCifar10(const fs::path& dir, const SyntheticOptions& options) {
  if (SyntheticUpToDate(dir, options)) return false;
  WriteSyntheticCifar10(dir, options);
  return true;
}

}  // namespace fwbench::data
