// The in-process side of bench/serve_vs_inprocess.sh: one model of a repository loaded exactly as
// `fwbench serve` loads it (LoadServedModel: the same TorchScript inference path as a
// libtorch/compiled trial), with the same compute pool, loaded and run on one thread as the
// server's compute thread does, one request at a time with no HTTP in between. Prints the
// latency distribution; --json writes it. --gap-us idles between forwards as a server does
// between requests.
//
//   build/bench/served_model_latency REPO MODEL [--threads 2] [--iterations 200] [--warmup 20]
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "analysis/stats.h"
#include "backends/served/load_served_model.h"
#include "backends/served/serve_threads.h"
#include "serve/model_repository.h"

namespace {

using fwbench::serve::InferRequest;
using fwbench::serve::InputTensor;

// Batch-1 inputs of the signature, uniform in [-1, 1) (the values do not change a dense model's
// speed; they keep it off any all-zeros shortcut).
InferRequest MakeRequest(const fwbench::serve::ModelSignature& signature, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0F, 1.0F);
  InferRequest request;
  for (const auto& in : signature.inputs) {
    InputTensor t;
    t.name = in.name;
    t.datatype = in.datatype;
    t.shape = in.shape;
    std::int64_t n = 1;
    for (std::size_t d = 0; d < t.shape.size(); ++d) {
      if (t.shape[d] < 0 && d > 0) {
        throw std::runtime_error(fmt::format(
            "input '{}' has a free dimension {} besides the batch: this bench needs fixed "
            "shapes",
            in.name, d));
      }
      if (t.shape[d] < 0) t.shape[d] = 1;
      n *= t.shape[d];
    }
    if (t.datatype == "INT64") {
      t.int64.assign(static_cast<std::size_t>(n), 1);
    } else {
      std::vector<float> values(static_cast<std::size_t>(n));
      for (float& v : values) v = uniform(rng);
      t.fp32.assign(values.begin(), values.end());
    }
    request.inputs.push_back(std::move(t));
  }
  return request;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Latency of one repository model in-process, loaded as fwbench serve loads it"};
  std::string repo;
  std::string model;
  std::string device = "cpu";
  std::string json_file;
  int threads = 2;
  int iterations = 200;
  int warmup = 20;
  int gap_us = 0;
  app.add_option("repository", repo, "Model repository folder")->required();
  app.add_option("model", model, "Model name (its folder)")->required();
  app.add_option("--threads", threads, "Compute threads (as fwbench serve --threads)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--iterations", iterations, "Timed forwards")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  app.add_option("--warmup", warmup, "Untimed forwards first")
      ->check(CLI::Range(0, 1'000'000))
      ->capture_default_str();
  app.add_option("--gap-us", gap_us,
                 "Sleep between forwards (a server waits for the next request in between)")
      ->check(CLI::Range(0, 10'000'000))
      ->capture_default_str();
  app.add_option("--device", device, "cpu or cuda")->capture_default_str();
  app.add_option("--json", json_file, "Write the figures here");
  CLI11_PARSE(app, argc, argv);
  try {
    const std::string pools = fwbench::DescribePools(fwbench::ConfigureServeThreads(threads));
    const auto models = fwbench::serve::ScanRepository(repo);
    const auto it =
        std::find_if(models.begin(), models.end(), [&](const auto& m) { return m.name == model; });
    if (it == models.end()) throw std::runtime_error(fmt::format("{}: no model '{}'", repo, model));
    const auto& version = it->versions.back();
    const auto served = fwbench::LoadServedModel(version.file, it->config, device);
    const InferRequest request = MakeRequest(it->config.signature, 1);
    const std::vector<const InferRequest*> batch = {&request};
    std::vector<double> ms;
    const auto loop = [&] {
      for (int i = 0; i < warmup + iterations; ++i) {
        if (gap_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(gap_us));
        const auto t0 = std::chrono::steady_clock::now();
        const auto outputs = served->RunBatch(batch);
        const auto t1 = std::chrono::steady_clock::now();
        if (i >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
    };
    loop();
    const double mean = fwbench::stats::Mean(ms);
    const nlohmann::json figures = {{"model", model},
                                    {"file", version.file.string()},
                                    {"threads", threads},
                                    {"pools", pools},
                                    {"iterations", iterations},
                                    {"p50_ms", fwbench::stats::Percentile(ms, 50)},
                                    {"p90_ms", fwbench::stats::Percentile(ms, 90)},
                                    {"p99_ms", fwbench::stats::Percentile(ms, 99)},
                                    {"mean_ms", mean}};
    std::cout << fmt::format(
        "in-process {}: p50 {:.3f} ms, p90 {:.3f} ms, mean {:.3f} ms ({} runs; {})\n", model,
        figures["p50_ms"].get<double>(), figures["p90_ms"].get<double>(), mean, iterations, pools);
    if (!json_file.empty()) std::ofstream(json_file) << figures.dump(2) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "served_model_latency: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
