// End-to-end runs of the fwbench binary: real LibTorch trials on tiny plans, fault handling
// through the CLI, and an orchestrator killed mid-run.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "run_fwbench.h"

#include <array>
#include <fstream>
#include <map>
#include <thread>

#include "analysis/stats.h"
#include "analysis/trial_metrics.h"
#include "core/trial_spec.h"
#include "data/cifar10.h"
#include "orchestrate/process.h"
#include "orchestrate/trial_monitor.h"

namespace fwbench {
namespace {

using fwbench::testing::FreshDir;
using fwbench::testing::Output;
using fwbench::testing::ReadLines;
using fwbench::testing::ReadText;
using fwbench::testing::RunDir;

fwbench::testing::Output Fwbench(const std::string& args) {
  return fwbench::testing::RunFwbench(args);
}

TEST(RunE2E, QuickPlanOnLibtorchProducesResults) {
  const auto out = FreshDir("e2e_quick");
  const Output r =
      Fwbench("run --quick --backends libtorch --trials 2 --batch-sizes 2 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.text;
  const auto run_dir = RunDir(out);
  const nlohmann::json results = nlohmann::json::parse(std::ifstream(run_dir / "results.json"));
  EXPECT_EQ(results["schema_version"], 1);
  EXPECT_TRUE(results["complete"].get<bool>());
  ASSERT_EQ(results["configurations"].size(), 2u);
  for (const auto& c : results["configurations"]) {
    EXPECT_EQ(c["trials_ok"], 2) << c.dump();
    for (const char* key : {"ttfb_s", "steps_per_s", "latency_p50_ms", "peak_rss_mb"}) {
      ASSERT_TRUE(c["metrics"].contains(key)) << key;
      const auto& m = c["metrics"][key];
      EXPECT_GT(m["median"].get<double>(), 0.0) << key;
      EXPECT_LE(m["ci95_lo"].get<double>(), m["median"].get<double>()) << key;
      EXPECT_GE(m["ci95_hi"].get<double>(), m["median"].get<double>()) << key;
    }
  }
  // Provenance travels with the results.
  EXPECT_TRUE(results["env"]["libtorch"]["version"].is_string());
  EXPECT_TRUE(results["env"]["cpu"]["model"].is_string() ||
              results["env"]["cpu"]["model"].is_null());
  // Inference trials wrote the parity logits they announced.
  int outputs = 0;
  for (const auto& e : ReadLines(run_dir / "events.jsonl")) {
    if (e["event"] == "output") {
      ++outputs;
      EXPECT_TRUE(std::filesystem::exists(e["path"].get<std::string>()));
    }
  }
  EXPECT_EQ(outputs, 2);
  EXPECT_NE(r.text.find("libtorch/eager/infer/b2"), std::string::npos) << r.text;
  // The report is written at the end of the run, with its charts where the renderer is
  // installed (scripts/install-deps.sh); Report.RendersInChromium checks how it renders.
  EXPECT_NE(r.text.find("report:  " + (run_dir / "report.html").string()), std::string::npos)
      << r.text;
  const std::string md = ReadText(run_dir / "report.md");
  EXPECT_NE(md.find("## Verdict matrix"), std::string::npos);
  EXPECT_NE(md.find("| libtorch/eager/infer/b2 | 2/2 |"), std::string::npos) << md;
  EXPECT_NE(ReadText(run_dir / "report.html").find("<table id=\"snapshot-infer\">"),
            std::string::npos);
  if (std::filesystem::is_directory(std::filesystem::path(FWBENCH_SOURCE_DIR) / "tools" / "charts" /
                                    "node_modules")) {
    EXPECT_TRUE(std::filesystem::exists(run_dir / "charts" / "throughput-infer-b2.svg")) << r.text;
    EXPECT_EQ(r.text.find("not rendered"), std::string::npos) << r.text;
  }
}

// CIFAR-10 binary files in the layout a user downloads, with arbitrary pixels: the real-data
// path, not the synthetic generator's folder (no synthetic.json).
void WriteCifarFiles(const std::filesystem::path& dir, std::size_t records_per_file) {
  std::filesystem::create_directories(dir);
  std::uint32_t state = 12345;
  const auto write = [&](const std::string& name) {
    data::ImageSet set;
    for (std::size_t r = 0; r < records_per_file; ++r) {
      set.labels.push_back(static_cast<std::uint8_t>(r % data::kNumClasses));
    }
    set.pixels.resize(records_per_file * data::kImageBytes);
    for (std::uint8_t& p : set.pixels) {
      state = state * 1664525u + 1013904223u;
      p = static_cast<std::uint8_t>(state >> 24);
    }
    data::WriteCifar10File(dir / name, set);
  };
  for (int i = 1; i <= 5; ++i) write(fmt::format("data_batch_{}.bin", i));
  write("test_batch.bin");
}

// Issue 19: with --data, nothing generated the cache folder, so a new --out failed with
// "cannot write …/cache/weights-….safetensors.tmp-…" and no run.
TEST(RunE2E, QuickPlanOnUserCifarFilesWithAnOutFolderThatDoesNotExistYet) {
  const auto root = FreshDir("e2e_user_cifar");
  const auto data = root / "cifar-10-batches-bin";
  WriteCifarFiles(data, 40);
  std::map<std::string, std::filesystem::file_time_type> before;
  for (const auto& e : std::filesystem::directory_iterator(data)) {
    before[e.path().filename().string()] = e.last_write_time();
  }
  const auto out = root / "new" / "results";
  ASSERT_FALSE(std::filesystem::exists(root / "new"));
  const Output r = Fwbench("run --quick --backends libtorch --trials 1 --batch-sizes 2 --data " +
                           data.string() + " --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.text;
  const nlohmann::json results = nlohmann::json::parse(std::ifstream(RunDir(out) / "results.json"));
  EXPECT_TRUE(results["complete"].get<bool>());
  ASSERT_EQ(results["configurations"].size(), 2u);  // train and infer
  for (const auto& c : results["configurations"]) EXPECT_EQ(c["trials_ok"], 1) << c.dump();
  EXPECT_TRUE(std::filesystem::is_regular_file(out / "cache" /
                                               "weights-resnet18-imagenet-c10-s1.safetensors"));
  // The user's data folder is only read: the same files, untouched.
  std::map<std::string, std::filesystem::file_time_type> after;
  for (const auto& e : std::filesystem::directory_iterator(data)) {
    after[e.path().filename().string()] = e.last_write_time();
  }
  EXPECT_EQ(before, after);
}

// Time to first batch from the protocol's timestamps must agree with the wall time of the same
// trial stopped right after its first step, measured from outside the process.
TEST(RunE2E, TimeToFirstBatchAgreesWithOutsideWallTime) {
  const auto out = FreshDir("e2e_ttfb");
  const Output r = Fwbench(
      "run --quick --backends libtorch --trials 1 --tasks infer --batch-sizes 8 --infer-min-steps "
      "1 "
      "--infer-max-steps 1 --parity-batch 0 --out " +
      out.string());
  ASSERT_EQ(r.code, 0) << r.text;
  const auto run_dir = RunDir(out);
  const auto record = ReadLines(run_dir / "trials.jsonl").at(0);
  const std::filesystem::path spec = run_dir / record["spec"].get<std::string>();
  const int threads = record["threads"].get<int>();

  std::vector<double> ratios;
  for (int i = 0; i < 3; ++i) {
    TrialMonitor monitor("ttfb", nullptr, threads);
    ProcessOptions options;
    options.argv = {FWBENCH_BINARY, "trial", spec.string()};
    options.stderr_path = out / "stderr.log";
    options.timeout_s = 120;
    const ProcessResult p =
        RunProcess(options, [&](std::string_view l) { return monitor.OnLine(l); });
    ASSERT_EQ(p.exit_code, 0);
    ASSERT_EQ(monitor.steps(), 1);
    nlohmann::json rec = {{"trial", "ttfb"},      {"status", "ok"},  {"spawn_ns", p.spawn_ns},
                          {"exit_ns", p.exit_ns}, {"task", "infer"}, {"batch_size", 8}};
    const TrialMetrics m = ComputeTrialMetrics(rec, monitor.events());
    const double outside_s = static_cast<double>(p.exit_ns - p.spawn_ns) * 1e-9;
    std::cerr << "ttfb " << m.ttfb_s << " s, outside wall " << outside_s << " s\n";
    ratios.push_back(m.ttfb_s / outside_s);
    // The phases add up to the whole.
    double sum = 0;
    for (const auto& [name, s] : m.phases_s) sum += s;
    EXPECT_NEAR(sum, m.ttfb_s, 1e-6);
  }
  const double ratio = stats::Median(ratios);
  EXPECT_GT(ratio, 0.90) << "TTFB misses more than 10% of the outside wall time";
  EXPECT_LE(ratio, 1.0) << "TTFB cannot exceed the process's wall time";
}

// Loss must clearly fall when training a small ResNet on the synthetic data for ~200 steps.
TEST(RunE2E, TrainingOnSyntheticDataLowersTheLoss) {
  const auto out = FreshDir("e2e_loss");
  const Output r = Fwbench(
      "run --backends libtorch --trials 1 --warmup-trials 0 --tasks train --stem imagenet "
      "--train-batch-size 32 --train-min-steps 200 "
      "--train-max-steps 200 --train-max-seconds 600 --lr 0.02 --synthetic-train-per-file 1000 "
      "--out " +
      out.string());
  ASSERT_EQ(r.code, 0) << r.text;
  std::vector<double> losses;
  for (const auto& e : ReadLines(RunDir(out) / "events.jsonl")) {
    // The parity gate's rounding probes (trial "…-probeN") are not the measured trial.
    if (e["event"] != "step" || e.value("trial", "").find("-probe") != std::string::npos) continue;
    losses.push_back(e["loss"].get<double>());
  }
  ASSERT_EQ(losses.size(), 200u);
  const std::vector<double> first(losses.begin(), losses.begin() + 20);
  const std::vector<double> last(losses.end() - 20, losses.end());
  std::cerr << "mean loss of the first 20 steps " << stats::Mean(first) << ", last 20 "
            << stats::Mean(last) << "\n";
  EXPECT_LT(stats::Mean(last), 0.6 * stats::Mean(first));
}

// Faults through the whole CLI: each failure is recorded with its reason, the run completes,
// and the exit code says some trials failed.
TEST(RunE2E, FaultyWorkersAreRecordedAndTheRunCompletes) {
  const auto out = FreshDir("e2e_faults");
  const std::string w = FAKE_WORKER;
  const Output r = Fwbench(
      "run --quick --trials 1 --tasks infer --batch-sizes 1 --trial-timeout-s 3 "
      "--backends killed,hangs,garbage,good --worker 'killed=" +
      w +
      " kill {spec}' "
      "--worker 'hangs=" +
      w + " hang {spec}' --worker 'garbage=" + w + " garbage {spec}' --worker 'good=" + w +
      " ok {spec}' --out " + out.string());
  EXPECT_EQ(r.code, 1) << r.text;
  const auto trials = ReadLines(RunDir(out) / "trials.jsonl");
  ASSERT_EQ(trials.size(), 4u) << r.text;
  EXPECT_NE(trials[0]["reason"].get<std::string>().find("SIGKILL"), std::string::npos);
  EXPECT_NE(trials[1]["reason"].get<std::string>().find("timed out after 3 s"), std::string::npos);
  EXPECT_NE(trials[2]["reason"].get<std::string>().find("protocol error"), std::string::npos);
  EXPECT_EQ(trials[3]["status"], "ok");
  EXPECT_NE(r.text.find("failed trials (3)"), std::string::npos) << r.text;
  EXPECT_TRUE(std::filesystem::exists(RunDir(out) / "results.json"));
}

// Killing the orchestrator loses nothing already measured: `fwbench report` rebuilds the
// results of every finished trial from the files written while the run went on.
TEST(RunE2E, KilledOrchestratorLosesNothingMeasured) {
  const auto out = FreshDir("e2e_kill");
  const std::string w = FAKE_WORKER;
  const pid_t pid = fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    const std::string worker = "slow=" + w + " slowstart {spec}";
    execl(FWBENCH_BINARY, FWBENCH_BINARY, "run", "--quick", "--trials", "50", "--tasks", "infer",
          "--batch-sizes", "1", "--backends", "slow", "--worker", worker.c_str(), "--out",
          out.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::filesystem::path run_dir;
  std::size_t recorded = 0;
  for (int i = 0; i < 600 && recorded < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (run_dir.empty() && std::filesystem::exists(out)) run_dir = RunDir(out);
    if (!run_dir.empty()) recorded = ReadLines(run_dir / "trials.jsonl").size();
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  ASSERT_GE(recorded, 3u);
  recorded = ReadLines(run_dir / "trials.jsonl").size();
  EXPECT_FALSE(std::filesystem::exists(run_dir / "results.json"));
  const Output r = Fwbench("report --json " + run_dir.string());
  ASSERT_EQ(r.code, 0) << r.text;
  const nlohmann::json results = nlohmann::json::parse(r.text);
  EXPECT_FALSE(results["complete"].get<bool>());
  EXPECT_EQ(results["trials"].size(), recorded);
  EXPECT_EQ(results["configurations"][0]["trials_ok"].get<std::size_t>(), recorded);
  // The report of what was measured says it is incomplete, first thing.
  const std::string md = ReadText(run_dir / "report.md");
  EXPECT_NE(md.find("(incomplete)"), std::string::npos) << md.substr(0, 400);
  EXPECT_NE(md.find(fmt::format("INCOMPLETE RUN — the run is incomplete: {} of 50 trials recorded",
                                recorded)),
            std::string::npos)
      << md.substr(0, 800);
  EXPECT_NE(ReadText(run_dir / "report.html").find("INCOMPLETE RUN"), std::string::npos);
}

}  // namespace
}  // namespace fwbench
