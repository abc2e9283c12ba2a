// Task input_pipeline end to end (docs/data-pipelines.md): fwbench's C++ loader, PyTorch's
// DataLoader, tf.data and Grain through `fwbench run --pipeline-only`, on the run's CIFAR-10
// files and on a folder of PNG and JPEG images the test writes; every installed loader's first
// batches must equal the reference's bit for bit, and a file that does not decode must fail its
// trials with the file's name, on 0 and 1 workers, never by a timeout.
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/cifar10.h"
#include "data/image_folder.h"
#include "run_fwbench.h"
#include "worker_catalogue.h"

namespace fwbench::testing {
namespace {

// The loaders that run here, as a --backends list (libtorch always; a worker where doctor says
// it runs, failing the test where install-deps made its environment and it does not).
std::string Backends() {
  std::string list = "libtorch";
  for (const auto& [backend, mode] : std::vector<std::pair<std::string, std::string>>{
           {"pytorch", "eager"}, {"tensorflow", "xla"}, {"jax", "jit"}}) {
    std::string skip;
    WorkerEntry(Doctor(), backend, mode, skip);
    if (skip.empty()) {
      list += "," + backend;
    } else {
      std::cout << backend << " left out: " << skip << "\n";
    }
  }
  return list;
}

// DIR/<class>/<file>: 3 classes of 4 images, PNG and JPEG mixed (6 PNG, 6 JPEG).
std::filesystem::path WriteFolder(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for (const char* cls : {"airplane", "bird", "cat"}) {
    std::filesystem::create_directories(dir / cls);
    for (const char* file : {"0.png", "1.jpg", "2.png", "3.jpeg"}) {
      std::vector<std::uint8_t> chw(data::kImageBytes);
      for (std::size_t k = 0; k < chw.size(); ++k) {
        // Smooth gradients with an edge: JPEG keeps them close, not exact.
        chw[k] = static_cast<std::uint8_t>(
            (n * 29 + (k % 32) * 5 + ((k / 32) % 32) * 3 + (k % 32 > 16 ? 60 : 0)) % 256);
      }
      data::WriteImageFile(dir / cls / file, chw);
      ++n;
    }
  }
  return dir;
}

std::map<std::string, nlohmann::json> Pipelines(const std::filesystem::path& out) {
  std::map<std::string, nlohmann::json> by_id;
  const auto results =
      nlohmann::json::parse(ReadText(RunDir(out) / "results.json"), nullptr, false);
  EXPECT_TRUE(results.is_object() && results.contains("pipelines")) << RunDir(out);
  if (!results.is_object()) return by_id;
  for (const auto& c : results.value("pipelines", nlohmann::json::array())) {
    by_id[c["config"]] = c;
  }
  return by_id;
}

TEST(PipelineE2E, EveryLoaderMatchesTheReferenceOnCifarFilesAloneAndFeedingTraining) {
  const std::string backends = Backends();
  const auto out = FreshDir("pipeline_e2e_cifar");
  const Output run = RunFwbench(
      "run --quick --pipeline-only --trials 1 --pipeline-workers 0,1 "
      "--backends " +
      backends + " --out " + out.string());
  ASSERT_EQ(run.code, 0) << run.text;
  EXPECT_NE(run.text.find("input pipeline"), std::string::npos) << run.text;
  const auto pipelines = Pipelines(out);
  const std::map<std::string, std::string> loaders = {{"libtorch/eager", "cpp"},
                                                      {"pytorch/eager", "dataloader"},
                                                      {"tensorflow/xla", "tf.data"},
                                                      {"jax/jit", "grain"}};
  int checked = 0;
  for (const auto& [backend, loader] : loaders) {
    if (backends.find(backend.substr(0, backend.find('/'))) == std::string::npos) continue;
    for (const std::string suffix : {"w0", "w1", "w0/train", "w1/train"}) {
      const std::string id = backend + "/input_pipeline/b16/" + suffix;
      ASSERT_TRUE(pipelines.contains(id)) << id << "\n" << run.text;
      const nlohmann::json& c = pipelines.at(id);
      EXPECT_EQ(c["trials_ok"], 1) << id << "\n" << run.text;
      EXPECT_EQ(c["pipeline"]["loader"], loader) << id;
      EXPECT_EQ(c["pipeline"]["check"], "match") << id << ": " << c["pipeline"].dump();
      EXPECT_GT(c["metrics"]["samples_per_s"]["median"].get<double>(), 0.0) << id;
      EXPECT_GT(c["metrics"]["cpu_s_per_1k_samples"]["median"].get<double>(), 0.0) << id;
      EXPECT_FALSE(c["pipeline"]["settings"].empty()) << id;
      ++checked;
    }
  }
  EXPECT_GE(checked, 4);
  // Training consumed the batches: its losses are there; the pipeline alone has none. A loader
  // with workers reports them as its own pool, and fwbench checked the count.
  std::map<std::string, std::string> config_of;
  for (const auto& t : ReadLines(RunDir(out) / "trials.jsonl")) config_of[t["trial"]] = t["config"];
  int hellos_with_workers = 0;
  for (const auto& e : ReadLines(RunDir(out) / "events.jsonl")) {
    const std::string config = config_of[e.value("trial", "")];
    if (e.value("event", "") == "step") {
      const bool trains = config.ends_with("/train");
      EXPECT_EQ(e["loss"].is_number(), trains) << config << ": " << e.dump();
    }
    if (e.value("event", "") == "hello" && config.find("/w1") != std::string::npos) {
      bool loader_pool = false;
      for (const auto& p : e["thread_pools"]) {
        loader_pool = loader_pool || (p["role"] == "loader" && p["set"] == 1 && p["read"] == 1);
      }
      EXPECT_TRUE(loader_pool) << config << ": " << e.dump();
      ++hellos_with_workers;
    }
  }
  EXPECT_GE(hellos_with_workers, 2);
}

TEST(PipelineE2E, AFolderOfPngAndJpegImagesIsDecodedByEachFrameworksOwnDecoder) {
  const std::string backends = Backends();
  const auto out = FreshDir("pipeline_e2e_images");
  const auto folder = WriteFolder(FreshDir("pipeline_e2e_images_folder"));
  const Output run = RunFwbench(
      "run --quick --pipeline-only --trials 1 --pipeline-workers 0,1 --pipeline-model-steps none "
      "--train-batch-size 4 --pipeline-images " +
      folder.string() + " --backends " + backends + " --out " + out.string());
  ASSERT_EQ(run.code, 0) << run.text;
  const auto pipelines = Pipelines(out);
  ASSERT_FALSE(pipelines.empty()) << run.text;
  for (const auto& [id, c] : pipelines) {
    EXPECT_EQ(c["trials_ok"], 1) << id << "\n" << run.text;
    EXPECT_EQ(c["pipeline"]["source"], "image-folder") << id;
    // 12 images in 3 classes: labels and PNG pixels must match; a JPEG decoder other than
    // libjpeg-turbo's accurate integer IDCT would show here as "differs".
    EXPECT_EQ(c["pipeline"]["check"], "match") << id << ": " << c["pipeline"].dump();
  }
}

TEST(PipelineE2E, AnImageThatDoesNotDecodeFailsItsTrialsWithTheFileName) {
  const std::string backends = Backends();
  const auto out = FreshDir("pipeline_e2e_broken");
  const auto folder = WriteFolder(FreshDir("pipeline_e2e_broken_folder"));
  std::ofstream(folder / "bird" / "2.png", std::ios::trunc) << "\x89PNG\r\n\x1a\n not really";
  const Output run = RunFwbench(
      "run --quick --pipeline-only --trials 1 --pipeline-workers 0,1 --pipeline-model-steps none "
      "--train-batch-size 4 --trial-timeout-s 120 --pipeline-images " +
      folder.string() + " --backends " + backends + " --out " + out.string());
  const auto trials = ReadLines(RunDir(out) / "trials.jsonl");
  ASSERT_FALSE(trials.empty()) << run.text;
  for (const auto& t : trials) {
    EXPECT_NE(t.value("status", ""), "ok") << t.dump();
    const std::string reason = t.value("reason", "");
    EXPECT_NE(reason.find("bird/2.png"), std::string::npos) << t.dump();
    EXPECT_EQ(reason.find("timed out"), std::string::npos) << t.dump();
  }
}

}  // namespace
}  // namespace fwbench::testing
