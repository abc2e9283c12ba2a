#include "analysis/pipeline_check.h"

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"
#include "data/cifar10.h"
#include "data/image_batcher.h"
#include "data/image_folder.h"
#include "data/safetensors.h"

namespace fwbench {
namespace {

template <typename T>
std::vector<T> Values(const safetensors::File& file, const char* name, safetensors::DType dtype) {
  const safetensors::TensorInfo* info = file.Find(name);
  if (info == nullptr || info->dtype != dtype) {
    throw UsageError(fmt::format("{}: no {} tensor \"{}\"", file.path().string(),
                                 safetensors::DTypeName(dtype), name));
  }
  std::vector<T> out(static_cast<std::size_t>(info->num_elements()));
  const auto bytes = file.Bytes(*info);
  std::memcpy(out.data(), bytes.data(), std::min(bytes.size(), out.size() * sizeof(T)));
  return out;
}

}  // namespace

PipelineCheck CheckPipelineBatches(const TrialSpec& spec, const std::filesystem::path& batches) {
  PipelineCheck check;
  try {
    const safetensors::File file = safetensors::File::Read(batches);
    const std::vector<float> images = Values<float>(file, "images", safetensors::DType::kF32);
    const std::vector<std::int64_t> labels =
        Values<std::int64_t>(file, "labels", safetensors::DType::kI64);
    const auto batch = static_cast<std::size_t>(spec.batch_size);
    if (labels.empty() || labels.size() % batch != 0 ||
        images.size() != labels.size() * data::kImageBytes) {
      check.status = "differs";
      check.detail =
          fmt::format("{} labels and {} pixel values: not whole batches of {} images of 3x32x32",
                      labels.size(), images.size(), batch);
      return check;
    }
    const data::BatchOptions options{
        .batch_size = batch, .augment = spec.augment, .shuffle = spec.shuffle, .seed = spec.seed};
    data::ImageSet cifar;
    data::ImageFolder folder;
    std::unique_ptr<data::ImageBatcher> reference;
    if (spec.pipeline.source == kPipelineSourceFolder) {
      folder = data::ListImageFolder(spec.pipeline.images_dir);
      reference = std::make_unique<data::ImageBatcher>(folder, options);
    } else {
      cifar = data::ReadCifar10Dir(spec.data_dir, data::Split::kTrain);
      reference = std::make_unique<data::ImageBatcher>(cifar, options);
    }
    std::vector<float> want_images(batch * data::kImageBytes);
    std::vector<std::int64_t> want_labels(batch);
    std::size_t label_mismatches = 0;
    std::size_t pixel_mismatches = 0;
    double max_abs = 0.0;
    std::string first_difference;
    const std::size_t count = labels.size() / batch;
    for (std::size_t b = 0; b < count; ++b) {
      reference->Fill(b, want_images, want_labels);
      for (std::size_t i = 0; i < batch; ++i) {
        if (labels[b * batch + i] != want_labels[i]) {
          if (first_difference.empty()) {
            first_difference = fmt::format("batch {} sample {}: label {}, reference {}", b, i,
                                           labels[b * batch + i], want_labels[i]);
          }
          ++label_mismatches;
        }
      }
      for (std::size_t i = 0; i < want_images.size(); ++i) {
        const float got = images[b * want_images.size() + i];
        // Bits, not values: -0.0 and 0.0, or two NaNs, are different batches.
        if (std::bit_cast<std::uint32_t>(got) != std::bit_cast<std::uint32_t>(want_images[i])) {
          ++pixel_mismatches;
          max_abs = std::max(max_abs, std::fabs(static_cast<double>(got) - want_images[i]));
          if (first_difference.empty()) {
            first_difference = fmt::format("batch {} value {}: {} against the reference's {}", b, i,
                                           got, want_images[i]);
          }
        }
      }
    }
    if (label_mismatches == 0 && pixel_mismatches == 0) {
      check.status = "match";
      check.detail = fmt::format("{} batches of {} bit for bit", count, batch);
    } else {
      check.status = "differs";
      check.detail = fmt::format(
          "{} of {} labels and {} of {} values differ (max |difference| {:.3g}); first: {}",
          label_mismatches, labels.size(), pixel_mismatches, images.size(), max_abs,
          first_difference);
    }
  } catch (const std::exception& e) {
    check.status = "unchecked";
    check.detail = e.what();
  }
  return check;
}

}  // namespace fwbench
