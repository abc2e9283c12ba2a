// The image folder of task input_pipeline and fwbench's own loader (docs/data-pipelines.md):
// record order and labels, decoding through OpenCV, errors that name the file, and the loader's
// threads delivering exactly the batcher's batches in order.
#include "data/image_folder.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/image_batcher.h"
#include "data/pipeline_loader.h"

namespace fwbench::data {
namespace {

std::vector<std::uint8_t> Pattern(std::size_t seed) {
  std::vector<std::uint8_t> chw(kImageBytes);
  for (std::size_t k = 0; k < kImageBytes; ++k) {
    chw[k] = static_cast<std::uint8_t>((seed * 53 + k * 7 + (k / 32) * 3) % 256);
  }
  return chw;
}

std::filesystem::path FreshFolder(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("fwbench_folder_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Classes "b_cat" and "a_dog" (so label order is name order, not creation order), 3 PNGs each.
std::filesystem::path PngFolder(const std::string& name) {
  const auto dir = FreshFolder(name);
  std::size_t seed = 0;
  for (const char* cls : {"b_cat", "a_dog"}) {
    std::filesystem::create_directories(dir / cls);
    for (const char* file : {"2.png", "1.png", "3.PNG"})
      WriteImageFile(dir / cls / file, Pattern(seed++));
  }
  std::ofstream(dir / "a_dog" / "notes.txt") << "not an image";
  return dir;
}

TEST(ImageFolder, ListsClassesAndFilesInNameOrderWithTheirLabels) {
  const ImageFolder folder = ListImageFolder(PngFolder("list"));
  ASSERT_EQ(folder.classes, (std::vector<std::string>{"a_dog", "b_cat"}));
  ASSERT_EQ(folder.size(), 6u);
  EXPECT_EQ(folder.files[0].filename(), "1.png");
  EXPECT_EQ(folder.files[2].filename(), "3.PNG");
  EXPECT_EQ(folder.files[3].parent_path().filename(), "b_cat");
  EXPECT_EQ(folder.labels_only.labels, (std::vector<std::uint8_t>{0, 0, 0, 1, 1, 1}));
}

TEST(ImageFolder, PngDecodesToTheBytesWritten) {
  const auto dir = PngFolder("png");
  std::vector<std::uint8_t> chw(kImageBytes);
  DecodeImageFile(dir / "b_cat" / "2.png", chw);
  EXPECT_EQ(chw, Pattern(0));
  const ImageSet set = DecodeImageFolder(ListImageFolder(dir));
  EXPECT_TRUE(std::equal(set.image(3), set.image(3) + kImageBytes, Pattern(1).begin()));
}

TEST(ImageFolder, BadFilesAndFoldersAreNamed) {
  const auto dir = FreshFolder("bad");
  EXPECT_THROW(ListImageFolder(dir / "missing"), UsageError);
  EXPECT_THROW(ListImageFolder(dir), UsageError);  // no class folders
  std::filesystem::create_directories(dir / "cls");
  std::ofstream(dir / "cls" / "broken.png") << "\x89PNG\r\n truncated";
  std::vector<std::uint8_t> chw(kImageBytes);
  try {
    DecodeImageFile(dir / "cls" / "broken.png", chw);
    FAIL() << "a truncated PNG decoded";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("broken.png: cannot decode"), std::string::npos)
        << e.what();
  }
}

TEST(ImageFolder, AnImageOfAnotherSizeIsRefusedWithItsSize) {
  const auto dir = FreshFolder("size");
  std::filesystem::create_directories(dir / "cls");
  // A valid 1x1 PNG (RGBA).
  const unsigned char one_pixel[] = {
      0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48,
      0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
      0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78,
      0x9C, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00,
      0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82};
  std::ofstream(dir / "cls" / "tiny.png", std::ios::binary)
      .write(reinterpret_cast<const char*>(one_pixel), sizeof(one_pixel));
  std::vector<std::uint8_t> chw(kImageBytes);
  try {
    DecodeImageFile(dir / "cls" / "tiny.png", chw);
    FAIL() << "a 1x1 image was taken for 32x32";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("tiny.png: image is 1x1"), std::string::npos) << e.what();
  }
}

TEST(PipelineLoader, ThreadsDeliverTheBatchersBatchesInOrder) {
  const ImageFolder folder = ListImageFolder(PngFolder("loader"));
  const ImageBatcher batcher(folder,
                             {.batch_size = 2, .augment = true, .shuffle = true, .seed = 7});
  for (int workers : {0, 1, 2, 3}) {
    PipelineLoader loader(batcher, workers);
    for (std::size_t b = 0; b < 7; ++b) {  // past the first epoch (3 batches each)
      std::vector<float> want(2 * kImageBytes);
      std::vector<std::int64_t> want_labels(2);
      batcher.Fill(b, want, want_labels);
      const PipelineLoader::Batch& got = loader.Next();
      ASSERT_EQ(got.images, want) << "workers " << workers << " batch " << b;
      ASSERT_EQ(got.labels, want_labels) << "workers " << workers << " batch " << b;
    }
  }
}

TEST(PipelineLoader, AWorkersDecodeErrorReachesTheConsumerWithTheFileName) {
  const auto dir = PngFolder("loader_error");
  std::ofstream(dir / "a_dog" / "1.png", std::ios::trunc) << "garbage";
  const ImageFolder folder = ListImageFolder(dir);
  const ImageBatcher batcher(folder,
                             {.batch_size = 6, .augment = false, .shuffle = false, .seed = 1});
  for (int workers : {0, 2}) {
    PipelineLoader loader(batcher, workers);
    try {
      loader.Next();
      FAIL() << "workers " << workers << ": the broken file went unnoticed";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("1.png"), std::string::npos) << e.what();
    }
  }  // and the loader's destructor returns: no worker is left waiting
}

}  // namespace
}  // namespace fwbench::data
