#pragma once
// Deterministic training batches: every framework (C++, Python and Node workers alike) must see
// the same images in the same order with the same augmentation, so the algorithm here is the
// specification in docs/data.md ("Batch algorithm") and must not change without updating it.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "data/cifar10.h"
#include "data/image_folder.h"

namespace fwbench::data {

// splitmix64 (Steele, Lea & Flood 2014): trivially portable to Python ints and JS BigInt, which
// is why it is the only RNG of the data path (the synthetic generator uses it too).
inline constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ULL;

// The splitmix64 output function, also used to derive stream seeds.
constexpr std::uint64_t Mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

class SplitMix64 {
 public:
  explicit constexpr SplitMix64(std::uint64_t state) : state_(state) {}
  constexpr std::uint64_t Next() {
    state_ += kGolden;
    return Mix64(state_);
  }
  // Plain modulo (bias < n / 2^64, irrelevant here and trivial to reproduce elsewhere).
  constexpr std::uint64_t Below(std::uint64_t n) { return Next() % n; }

 private:
  std::uint64_t state_;
};

// Per-epoch key: permutation stream state; parent of the per-sample augmentation streams.
constexpr std::uint64_t EpochKey(std::uint64_t seed, std::uint64_t epoch) {
  return seed ^ Mix64(epoch + 1);
}

// CIFAR normalisation constants (as float32, i.e. the nearest float to each decimal).
inline constexpr float kCifarMean[kImageChannels] = {0.4914f, 0.4822f, 0.4465f};
inline constexpr float kCifarStd[kImageChannels] = {0.2470f, 0.2435f, 0.2616f};

// ((float)v / 255 - mean[c]) / std[c], each step rounded to float32: no multiply-add to be
// contracted into an FMA, so every platform and language gets the same bits.
float NormalizePixel(std::size_t channel, std::uint8_t value);

struct BatchOptions {
  std::size_t batch_size = 32;
  bool augment = true;  // RandomCrop(32, padding=4) + RandomHorizontalFlip
  bool shuffle = true;  // false: records in file order every epoch
  std::uint64_t seed = 1;
};

// One sample's augmentation: crop window at (dy, dx) in the image zero-padded by 4 on each side,
// then a horizontal flip. {4, 4, false} is the identity.
struct Augmentation {
  std::uint32_t dy = 4;  // row offset in [0, 8]
  std::uint32_t dx = 4;  // column offset in [0, 8]
  bool flip = false;

  bool operator==(const Augmentation&) const = default;
};

// The draw for the sample at `position` (0-based slot within the epoch, after shuffling).
Augmentation DrawAugmentation(std::uint64_t seed, std::uint64_t epoch, std::uint64_t position);

// Crops/flips one CHW uint8 image (kImageBytes) into `out` (kImageBytes).
void AugmentImage(const std::uint8_t* image, Augmentation aug, std::span<std::uint8_t> out);

// Batches of an ImageSet, which must outlive the batcher. Fill is const and thread-safe so a
// prefetch thread may fill ahead; the current epoch's permutation is cached.
class ImageBatcher {
 public:
  // Throws std::invalid_argument when batch_size is 0.
  ImageBatcher(const ImageSet& set, BatchOptions options);
  // The images of a folder, each decoded from its file whenever a batch needs it (the work an
  // input pipeline does every epoch); the folder must outlive the batcher. Fill throws
  // UsageError naming a file that does not decode to a 32x32 colour image.
  ImageBatcher(const ImageFolder& folder, BatchOptions options);
  ~ImageBatcher();
  ImageBatcher(ImageBatcher&&) noexcept;
  ImageBatcher& operator=(ImageBatcher&&) noexcept;

  const BatchOptions& options() const { return options_; }
  // floor(set.size() / batch_size): the last incomplete batch of an epoch is dropped.
  std::size_t batches_per_epoch() const { return batches_per_epoch_; }

  // The record index at each position of `epoch` (all set.size() records; the tail beyond
  // batches_per_epoch * batch_size is what gets dropped).
  std::vector<std::size_t> EpochOrder(std::size_t epoch) const;

  // Global batch `batch_index` (epoch = batch_index / batches_per_epoch): images as float32
  // NCHW (batch_size * 3 * 32 * 32), normalised; labels as int64 (batch_size). Throws
  // std::invalid_argument on wrong span sizes, std::out_of_range if there are no full batches.
  void Fill(std::size_t batch_index, std::span<float> images, std::span<std::int64_t> labels) const;

  // A fixed batch of the given records, never augmented (evaluation / parity checks); spans
  // sized for indices.size() images. Throws std::out_of_range for an index >= set.size().
  void FillFixed(std::span<const std::size_t> indices, std::span<float> images,
                 std::span<std::int64_t> labels) const;

 private:
  struct OrderCache;
  std::shared_ptr<const std::vector<std::size_t>> CachedOrder(std::size_t epoch) const;
  void EmitRecord(std::size_t record, Augmentation aug, std::size_t slot, std::span<float> images,
                  std::span<std::int64_t> labels) const;

  const ImageSet* set_;
  const ImageFolder* folder_ = nullptr;  // set: records are decoded from its files
  BatchOptions options_;
  std::size_t batches_per_epoch_;
  std::unique_ptr<OrderCache> cache_;
};

}  // namespace fwbench::data
