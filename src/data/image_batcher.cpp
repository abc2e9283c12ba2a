#include "data/image_batcher.h"

#include <fmt/format.h>

#include <array>
#include <cstring>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <utility>

namespace fwbench::data {
namespace {

constexpr std::size_t kPad = 4;

// 3 x 256 table so Fill is a lookup per pixel; built with exactly NormalizePixel's arithmetic.
struct NormalizeTable {
  std::array<float, kImageChannels * 256> values{};
  NormalizeTable() {
    for (std::size_t c = 0; c < kImageChannels; ++c) {
      for (std::size_t v = 0; v < 256; ++v) {
        // Division then subtraction then division: nothing a compiler may fuse into an FMA.
        const float scaled = static_cast<float>(v) / 255.0f;
        values[c * 256 + v] = (scaled - kCifarMean[c]) / kCifarStd[c];
      }
    }
  }
};

const NormalizeTable& Table() {
  static const NormalizeTable table;
  return table;
}

std::vector<std::size_t> ComputeOrder(std::size_t n, bool shuffle, std::uint64_t seed,
                                      std::uint64_t epoch) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  if (!shuffle) return order;
  // Fisher-Yates from the back: i = n-1 .. 1, j = Below(i + 1), swap(order[i], order[j]).
  SplitMix64 rng(EpochKey(seed, epoch));
  for (std::size_t i = n; i-- > 1;) {
    const std::size_t j = static_cast<std::size_t>(rng.Below(i + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

// Writes one normalised sample (image + label) at `slot` of the output spans.
void EmitSample(const std::uint8_t* image, std::uint8_t label, Augmentation aug, std::size_t slot,
                std::span<float> images, std::span<std::int64_t> labels) {
  std::array<std::uint8_t, kImageBytes> crop;
  AugmentImage(image, aug, crop);
  const NormalizeTable& table = Table();
  float* out = images.data() + slot * kImageBytes;
  for (std::size_t c = 0; c < kImageChannels; ++c) {
    const float* lut = table.values.data() + c * 256;
    for (std::size_t i = 0; i < kImagePlane; ++i) {
      out[c * kImagePlane + i] = lut[crop[c * kImagePlane + i]];
    }
  }
  labels[slot] = label;
}

void CheckSpans(std::size_t count, std::span<float> images, std::span<std::int64_t> labels) {
  if (images.size() != count * kImageBytes || labels.size() != count) {
    throw std::invalid_argument(fmt::format(
        "ImageBatcher: spans hold {} floats and {} labels; a batch of {} needs {} and {}",
        images.size(), labels.size(), count, count * kImageBytes, count));
  }
}

}  // namespace

float NormalizePixel(std::size_t channel, std::uint8_t value) {
  return Table().values[channel * 256 + value];
}

Augmentation DrawAugmentation(std::uint64_t seed, std::uint64_t epoch, std::uint64_t position) {
  SplitMix64 rng(Mix64(EpochKey(seed, epoch) ^ Mix64(position + 1)));
  Augmentation aug;
  aug.dy = static_cast<std::uint32_t>(rng.Below(2 * kPad + 1));
  aug.dx = static_cast<std::uint32_t>(rng.Below(2 * kPad + 1));
  aug.flip = rng.Below(2) == 1;
  return aug;
}

void AugmentImage(const std::uint8_t* image, Augmentation aug, std::span<std::uint8_t> out) {
  // out(c, y, x) = padded(c, y + dy, x' + dx) with x' = flip ? 31 - x : x, where padded is the
  // image with a 4-pixel border of zeros (crop first, then flip, as torchvision's pipeline).
  for (std::size_t c = 0; c < kImageChannels; ++c) {
    const std::uint8_t* plane = image + c * kImagePlane;
    for (std::size_t y = 0; y < kImageSide; ++y) {
      std::uint8_t* row = out.data() + c * kImagePlane + y * kImageSide;
      const std::size_t sy = y + aug.dy;  // row in padded coordinates
      if (sy < kPad || sy >= kImageSide + kPad) {
        std::memset(row, 0, kImageSide);
        continue;
      }
      const std::uint8_t* src = plane + (sy - kPad) * kImageSide;
      for (std::size_t x = 0; x < kImageSide; ++x) {
        const std::size_t sx = (aug.flip ? kImageSide - 1 - x : x) + aug.dx;
        row[x] = (sx < kPad || sx >= kImageSide + kPad) ? 0 : src[sx - kPad];
      }
    }
  }
}

struct ImageBatcher::OrderCache {
  std::mutex mutex;
  std::size_t epoch = 0;
  std::shared_ptr<const std::vector<std::size_t>> order;  // null until first use
};

ImageBatcher::ImageBatcher(const ImageSet& set, BatchOptions options)
    : set_(&set), options_(options), batches_per_epoch_(0), cache_(std::make_unique<OrderCache>()) {
  if (options_.batch_size == 0) {
    throw std::invalid_argument("ImageBatcher: batch_size must be at least 1");
  }
  batches_per_epoch_ = set.size() / options_.batch_size;
}

ImageBatcher::ImageBatcher(const ImageFolder& folder, BatchOptions options)
    : ImageBatcher(folder.labels_only, options) {
  folder_ = &folder;
}

ImageBatcher::~ImageBatcher() = default;
ImageBatcher::ImageBatcher(ImageBatcher&&) noexcept = default;
ImageBatcher& ImageBatcher::operator=(ImageBatcher&&) noexcept = default;

std::vector<std::size_t> ImageBatcher::EpochOrder(std::size_t epoch) const {
  return *CachedOrder(epoch);
}

std::shared_ptr<const std::vector<std::size_t>> ImageBatcher::CachedOrder(std::size_t epoch) const {
  // Fill asks for the same epoch batches_per_epoch times in a row; recomputing the
  // permutation each time would cost O(set size) per batch.
  std::lock_guard lock(cache_->mutex);
  if (!cache_->order || cache_->epoch != epoch) {
    cache_->order = std::make_shared<const std::vector<std::size_t>>(
        ComputeOrder(set_->size(), options_.shuffle, options_.seed, epoch));
    cache_->epoch = epoch;
  }
  return cache_->order;
}

void ImageBatcher::Fill(std::size_t batch_index, std::span<float> images,
                        std::span<std::int64_t> labels) const {
  const std::size_t batch = options_.batch_size;
  CheckSpans(batch, images, labels);
  if (batches_per_epoch_ == 0) {
    throw std::out_of_range(
        fmt::format("ImageBatcher: {} images make no full batch of {}", set_->size(), batch));
  }
  const std::size_t epoch = batch_index / batches_per_epoch_;
  const std::size_t first = (batch_index % batches_per_epoch_) * batch;
  const std::shared_ptr<const std::vector<std::size_t>> order = CachedOrder(epoch);
  for (std::size_t j = 0; j < batch; ++j) {
    const std::size_t position = first + j;
    const Augmentation aug =
        options_.augment ? DrawAugmentation(options_.seed, epoch, position) : Augmentation{};
    EmitRecord((*order)[position], aug, j, images, labels);
  }
}

void ImageBatcher::FillFixed(std::span<const std::size_t> indices, std::span<float> images,
                             std::span<std::int64_t> labels) const {
  CheckSpans(indices.size(), images, labels);
  for (std::size_t j = 0; j < indices.size(); ++j) {
    if (indices[j] >= set_->size()) {
      throw std::out_of_range(
          fmt::format("ImageBatcher::FillFixed: index {} but the set has {} "
                      "images",
                      indices[j], set_->size()));
    }
    EmitRecord(indices[j], Augmentation{}, j, images, labels);
  }
}

void ImageBatcher::EmitRecord(std::size_t record, Augmentation aug, std::size_t slot,
                              std::span<float> images, std::span<std::int64_t> labels) const {
  if (folder_ == nullptr) {
    EmitSample(set_->image(record), set_->labels[record], aug, slot, images, labels);
    return;
  }
  std::array<std::uint8_t, kImageBytes> decoded;
  DecodeImageFile(folder_->files[record], decoded);
  EmitSample(decoded.data(), folder_->labels_only.labels[record], aug, slot, images, labels);
}

}  // namespace fwbench::data
