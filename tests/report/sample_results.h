#pragma once
// A small constructed results.json (docs/results.md) for the report tests: LibTorch eager and
// compiled, training at batch 16 and inference at batches 1 and 8, one configuration that
// failed the parity gate.
#include <string>

#include <nlohmann/json.hpp>

namespace fwbench::testing {

inline nlohmann::json Metric(double median, double lo, double hi) {
  return {{"median", median}, {"ci95_lo", lo}, {"ci95_hi", hi}, {"n", 3}, {"cv", 0.02}};
}

inline nlohmann::json SampleConfig(const std::string& backend, const std::string& mode,
                                   const std::string& task, int batch, double samples_per_s,
                                   const std::string& parity = "pass") {
  nlohmann::json m = {
      {"ttfb_s", Metric(0.5, 0.45, 0.6)},
      {"phase.exec_s", Metric(0.3, 0.3, 0.3)},
      {"phase.build_s", Metric(0.1, 0.1, 0.1)},
      {"phase.first_step_s", Metric(0.1, 0.1, 0.1)},
      // Whole-number CIs, so that the tests can spell the cells out exactly.
      {"samples_per_s", Metric(samples_per_s, samples_per_s - 20, samples_per_s + 20)},
      {"steps_per_s",
       Metric(samples_per_s / batch, samples_per_s / batch - 1, samples_per_s / batch + 1)},
      {"peak_rss_mb", Metric(250, 249, 251)},
  };
  if (task == "infer") {
    m["latency_p50_ms"] = Metric(1000.0 * batch / samples_per_s, 9, 11);
    m["latency_p99_ms"] = Metric(1200.0 * batch / samples_per_s, 11, 13);
  }
  nlohmann::json c = {
      {"config", backend + "/" + mode + "/" + task + "/b" + std::to_string(batch)},
      {"backend", backend},
      {"mode", mode},
      {"task", task},
      {"batch_size", batch},
      {"trials_ok", 3},
      {"trials_failed", 0},
      {"metrics", m},
      {"ranked", parity == "pass" || parity == "reference"},
      {"parity", {{"status", parity}, {"reference", "libtorch/eager/" + task + "/b1"}}},
      {"warnings", nlohmann::json::array()},
  };
  if (parity == "fail") {
    c["parity"]["logits"] = {{"max_abs", 0.31}, {"max_rel", 0.2}, {"rows", 8}};
    c["parity"]["problem"] = "logits differ by up to 0.31";
  }
  return c;
}

inline nlohmann::json SampleResults() {
  nlohmann::json r = {
      {"schema_version", 1},
      {"run_id", "20261125-120000-sample"},
      {"started_utc", "2026-11-25T12:00:00Z"},
      {"analysed_utc", "2026-11-25T12:05:00Z"},
      {"complete", true},
      {"plan", {{"trials", "3"}, {"model.arch", "resnet18"}}},
      {"inputs", {{"threads", 2}, {"data_dir", "/data"}, {"weights", "/w.safetensors"}}},
      {"env", {{"cpu", {{"model", "Test CPU"}, {"usable_cores", 2}}}}},
      {"configurations", nlohmann::json::array()},
      {"trials", nlohmann::json::array()},
      {"warnings", nlohmann::json::array()},
      {"verdict_threshold", 0.05},
      {"verdicts", nlohmann::json::array()},
      {"pick", nlohmann::json::array()},
  };
  auto& c = r["configurations"];
  c.push_back(SampleConfig("libtorch", "eager", "train", 16, 50, "reference"));
  c.push_back(SampleConfig("libtorch", "compiled", "train", 16, 52));
  c.push_back(SampleConfig("libtorch", "eager", "infer", 1, 100, "reference"));
  c.push_back(SampleConfig("libtorch", "compiled", "infer", 1, 400));
  c.push_back(SampleConfig("other", "fast", "infer", 1, 900, "fail"));
  c.push_back(SampleConfig("libtorch", "eager", "infer", 8, 300));
  // Three trial processes per configuration around each median, for the verdicts' ratios.
  for (const auto& config : c) {
    const auto& m = config["metrics"];
    for (const double f : {0.98, 1.0, 1.02}) {
      nlohmann::json t = {{"config", config["config"]},
                          {"status", "ok"},
                          {"ttfb_s", m["ttfb_s"]["median"].get<double>() * f},
                          {"samples_per_s", m["samples_per_s"]["median"].get<double>() * f},
                          {"peak_rss_bytes", 250.0 * 1024 * 1024 * f}};
      if (m.contains("latency_p50_ms")) {
        t["latency_ms"] = {{"p50", m["latency_p50_ms"]["median"].get<double>() / f}};
      }
      r["trials"].push_back(std::move(t));
    }
  }
  c[3]["compile"] = {{"eager_config", "libtorch/eager/infer/b1"},
                     {"speedup", Metric(4.0, 3.5, 4.5)},
                     {"significant", true},
                     {"compile_s", 0.7},
                     {"extra_warmup_s", 0.01},
                     {"break_even_steps", 11.2}};
  return r;
}

}  // namespace fwbench::testing
