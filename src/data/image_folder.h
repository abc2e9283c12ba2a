#pragma once
// A folder of images in the layout torchvision's ImageFolder and Keras'
// image_dataset_from_directory read: DIR/<class>/<file>.png|.jpg|.jpeg, classes in name order
// (label 0, 1, …), files in name order within a class. The input_pipeline task reads it
// (docs/data-pipelines.md); every image must decode to 32x32 colour, the model's input.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "data/cifar10.h"

namespace fwbench::data {

struct ImageFolder {
  std::filesystem::path dir;
  std::vector<std::string> classes;
  std::vector<std::filesystem::path> files;  // record order
  // The labels of `files`, with no pixels: what the batcher reads for order and labels.
  ImageSet labels_only;

  std::size_t size() const { return files.size(); }
};

// Lists the folder. Throws UsageError naming it when it is not a folder, has no class folders,
// more than 256 classes, or no images.
ImageFolder ListImageFolder(const std::filesystem::path& dir);

// Decodes one file (PNG, JPEG, … through OpenCV's imgcodecs: libpng and libjpeg-turbo with its
// default accurate integer IDCT) into CHW RGB bytes (kImageBytes). Throws UsageError naming the
// file when it cannot be read or decoded, or is not 32x32.
void DecodeImageFile(const std::filesystem::path& file, std::span<std::uint8_t> chw);

// Every image of the folder decoded, in record order.
ImageSet DecodeImageFolder(const ImageFolder& folder);

// Writes one CHW RGB image (kImageBytes) as PNG, or as JPEG at `jpeg_quality` when the name
// ends in .jpg or .jpeg (tests and examples make folders with it). Throws UsageError naming the
// file when it cannot be written.
void WriteImageFile(const std::filesystem::path& file, std::span<const std::uint8_t> chw,
                    int jpeg_quality = 90);

}  // namespace fwbench::data
