#include "data/image_folder.h"

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "core/error.h"

namespace fwbench::data {
namespace {

std::string LowerExtension(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

bool IsJpeg(const std::filesystem::path& path) {
  const std::string ext = LowerExtension(path);
  return ext == ".jpg" || ext == ".jpeg";
}

bool IsImageFile(const std::filesystem::path& path) {
  return IsJpeg(path) || LowerExtension(path) == ".png";
}

constexpr const char* kLayout =
    "expected DIR/<class>/<image>.png|.jpg|.jpeg, as torchvision's ImageFolder reads";

}  // namespace

ImageFolder ListImageFolder(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw UsageError(fmt::format("{}: not a folder ({})", dir.string(), kLayout));
  }
  ImageFolder folder;
  folder.dir = dir;
  std::vector<std::filesystem::path> class_dirs;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_directory()) class_dirs.push_back(entry.path());
  }
  std::sort(class_dirs.begin(), class_dirs.end());
  if (class_dirs.empty()) {
    throw UsageError(fmt::format("{}: no class folders ({})", dir.string(), kLayout));
  }
  if (class_dirs.size() > 256) {
    throw UsageError(fmt::format("{}: {} class folders; at most 256 are supported", dir.string(),
                                 class_dirs.size()));
  }
  for (std::size_t c = 0; c < class_dirs.size(); ++c) {
    folder.classes.push_back(class_dirs[c].filename().string());
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(class_dirs[c])) {
      if (entry.is_regular_file() && IsImageFile(entry.path())) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (auto& f : files) {
      folder.files.push_back(std::move(f));
      folder.labels_only.labels.push_back(static_cast<std::uint8_t>(c));
    }
  }
  if (folder.files.empty()) {
    throw UsageError(fmt::format("{}: no .png, .jpg or .jpeg images in its class folders ({})",
                                 dir.string(), kLayout));
  }
  return folder;
}

void DecodeImageFile(const std::filesystem::path& file, std::span<std::uint8_t> chw) {
  // Read here, decode from memory: imread says nothing of why it failed.
  std::ifstream in(file, std::ios::binary);
  if (!in) throw UsageError(fmt::format("{}: cannot open the image file", file.string()));
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  cv::Mat bgr;
  if (!bytes.empty()) {
    try {
      bgr = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8UC1, bytes.data()),
                         cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
    } catch (const cv::Exception& e) {
      throw UsageError(fmt::format("{}: cannot decode the image ({})", file.string(), e.what()));
    }
  }
  if (bgr.empty()) {
    throw UsageError(
        fmt::format("{}: cannot decode the image ({} bytes; not a PNG or JPEG "
                    "OpenCV can read, or truncated)",
                    file.string(), bytes.size()));
  }
  if (bgr.rows != static_cast<int>(kImageSide) || bgr.cols != static_cast<int>(kImageSide)) {
    throw UsageError(fmt::format(
        "{}: image is {}x{}; the input_pipeline task feeds 32x32 images (resize the folder first)",
        file.string(), bgr.cols, bgr.rows));
  }
  if (chw.size() != kImageBytes) {
    throw std::invalid_argument(
        fmt::format("DecodeImageFile: {} bytes given, an image needs {}", chw.size(), kImageBytes));
  }
  for (std::size_t y = 0; y < kImageSide; ++y) {
    const std::uint8_t* row = bgr.ptr<std::uint8_t>(static_cast<int>(y));
    for (std::size_t x = 0; x < kImageSide; ++x) {
      for (std::size_t c = 0; c < kImageChannels; ++c) {
        // OpenCV decodes to BGR: channel c of RGB is 2 - c.
        chw[c * kImagePlane + y * kImageSide + x] = row[x * kImageChannels + (2 - c)];
      }
    }
  }
}

void WriteImageFile(const std::filesystem::path& file, std::span<const std::uint8_t> chw,
                    int jpeg_quality) {
  if (chw.size() != kImageBytes) {
    throw std::invalid_argument(
        fmt::format("WriteImageFile: {} bytes given, an image has {}", chw.size(), kImageBytes));
  }
  cv::Mat bgr(static_cast<int>(kImageSide), static_cast<int>(kImageSide), CV_8UC3);
  for (std::size_t y = 0; y < kImageSide; ++y) {
    auto* row = bgr.ptr<std::uint8_t>(static_cast<int>(y));
    for (std::size_t x = 0; x < kImageSide; ++x) {
      for (std::size_t c = 0; c < kImageChannels; ++c) {
        row[x * kImageChannels + (2 - c)] = chw[c * kImagePlane + y * kImageSide + x];
      }
    }
  }
  const bool jpeg = IsJpeg(file);
  std::vector<std::uint8_t> bytes;
  if (!cv::imencode(
          jpeg ? ".jpg" : ".png", bgr, bytes,
          jpeg ? std::vector<int>{cv::IMWRITE_JPEG_QUALITY, jpeg_quality} : std::vector<int>{})) {
    throw UsageError(fmt::format("{}: cannot encode the image", file.string()));
  }
  std::ofstream out(file, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw UsageError(fmt::format("{}: cannot write the image", file.string()));
}

ImageSet DecodeImageFolder(const ImageFolder& folder) {
  ImageSet set;
  set.labels = folder.labels_only.labels;
  set.pixels.resize(folder.size() * kImageBytes);
  for (std::size_t i = 0; i < folder.size(); ++i) {
    DecodeImageFile(folder.files[i],
                    std::span<std::uint8_t>(set.pixels.data() + i * kImageBytes, kImageBytes));
  }
  return set;
}

}  // namespace fwbench::data
