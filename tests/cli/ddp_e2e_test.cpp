// Data-parallel training end to end (task train_ddp): LibTorch C++ on c10d's Gloo and the Python
// workers' DistributedDataParallel, MultiWorkerMirroredStrategy and jax.distributed, on one and
// two processes, on one host and on two (network namespaces, as root), through `fwbench run`.
// lr 0.0005: at the quick plan's 0.01 a one-ulp difference moves the two-process reference's
// loss by more than 10% from step 3, and the gate could not tell rounding from a bug.
#include <unistd.h>

#include <gtest/gtest.h>

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "orchestrate/ddp_launch.h"
#include "run_fwbench.h"
#include "worker_catalogue.h"

namespace fwbench::testing {
namespace {

// The configurations' results by id, and the run's trial records, of the run under `out`.
struct DdpRun {
  std::filesystem::path dir;
  std::map<std::string, nlohmann::json> configs;
  std::vector<nlohmann::json> trials;
};

DdpRun Load(const std::filesystem::path& out) {
  DdpRun r;
  r.dir = RunDir(out);
  const auto results = nlohmann::json::parse(ReadText(r.dir / "results.json"), nullptr, false);
  EXPECT_TRUE(results.is_object()) << r.dir;
  if (results.is_object()) {
    for (const auto& c : results["configurations"]) r.configs[c["config"]] = c;
  }
  r.trials = ReadLines(r.dir / "trials.jsonl");
  return r;
}

// The steps rank 0 reported for `trial` (events.jsonl) and those rank 1 wrote beside it.
std::vector<nlohmann::json> Steps(const std::vector<nlohmann::json>& events,
                                  const std::string& trial) {
  std::vector<nlohmann::json> steps;
  for (const auto& e : events) {
    if (e.value("trial", "") == trial && e.value("event", "") == "step") steps.push_back(e);
  }
  return steps;
}

TEST(DdpE2E, LibtorchAndPytorchScaleWithACiAndMatchTheReferencesLosses) {
  std::string skip;
  const nlohmann::json pytorch = WorkerEntry(Doctor(), "pytorch", "eager", skip);
  const bool with_pytorch = skip.empty();
  if (!with_pytorch) std::cout << "pytorch left out: " << skip << "\n";
  // Two hosts: TensorflowAndJaxAverageGradientsAcrossProcesses (CI's time is counted).
  const auto out = FreshDir("ddp_e2e");
  const Output run = RunFwbench(
      "run --quick --tasks train_ddp --trials 2 --lr 0.0005 --ddp-processes 1,2 --backends "
      "libtorch" +
      std::string(with_pytorch ? ",pytorch" : "") + " --out " + out.string());
  ASSERT_EQ(run.code, 0) << run.text;
  const DdpRun r = Load(out);
  const auto events = ReadLines(r.dir / "events.jsonl");
  std::vector<std::string> backends = {"libtorch/eager"};
  if (with_pytorch) backends.push_back("pytorch/eager");
  const std::vector<std::string> layouts = {"p1", "p2"};
  for (const std::string& b : backends) {
    for (const std::string& layout : layouts) {
      const std::string id = b + "/train_ddp/b16/" + layout;
      ASSERT_TRUE(r.configs.contains(id)) << id << "\n" << run.text;
      const nlohmann::json& c = r.configs.at(id);
      EXPECT_EQ(c["trials_ok"], 2) << id;
      if (layout == "p1") {
        EXPECT_FALSE(c.contains("ddp_scaling")) << id;
      } else {
        // Against the same backend on one process: an efficiency with its CI over 2 trials each.
        const nlohmann::json& s = c["ddp_scaling"];
        ASSERT_TRUE(s.contains("efficiency")) << id << ": " << s.dump();
        EXPECT_EQ(s["baseline_config"], b + "/train_ddp/b16/p1");
        const double e = s["efficiency"]["median"], lo = s["efficiency"]["ci95_lo"],
                     hi = s["efficiency"]["ci95_hi"];
        EXPECT_GT(e, 0.0) << id;
        EXPECT_LE(lo, e) << id;
        EXPECT_GE(hi, e) << id;
        EXPECT_NEAR(s["speedup"]["median"].get<double>(), 2 * e, 1e-9) << id;
        EXPECT_EQ(s["processes"], 2);
        // Throughput counts both processes' samples.
        EXPECT_NEAR(c["metrics"]["samples_per_s"]["median"].get<double>(),
                    32 * c["metrics"]["steps_per_s"]["median"].get<double>(),
                    1e-6 * c["metrics"]["samples_per_s"]["median"].get<double>())
            << id;
      }
      // The parity gate compares each against LibTorch C++ on as many processes.
      EXPECT_EQ(c["parity"]["reference"], "libtorch/eager/train_ddp/b16/" + layout) << id;
      if (b != "libtorch/eager") {
        EXPECT_EQ(c["parity"]["status"], "pass") << id << ": " << c["parity"].dump();
      }
    }
  }
  // Rank 0's steps count every rank's samples; rank 1 logged its own 20 steps beside the trial.
  for (const auto& t : r.trials) {
    if (t.value("role", "") == "rounding_probe") continue;
    const std::string trial = t["trial"];
    const auto steps = Steps(events, trial);
    ASSERT_EQ(steps.size(), 20u) << trial;
    const int processes = t["ddp_processes"];
    EXPECT_EQ(steps[5]["samples"], 16 * processes) << trial;
    const auto rank1 = ReadLines(r.dir / "trials" / trial / "rank1.stdout.jsonl");
    if (processes == 1) {
      EXPECT_FALSE(std::filesystem::exists(r.dir / "trials" / trial / "rank1.stdout.jsonl"));
      continue;
    }
    std::vector<double> rank1_losses;
    for (const auto& e : rank1) {
      if (e.value("event", "") == "step") rank1_losses.push_back(e["loss"].get<double>());
    }
    EXPECT_EQ(rank1_losses.size(), 20u) << trial;
    ASSERT_FALSE(rank1.empty()) << trial;
    EXPECT_EQ(rank1.front()["extra"]["ddp"]["rank"], 1) << trial;
    // Rank 1 trained on the other half of each global batch: its losses are its own.
    ASSERT_FALSE(rank1_losses.empty()) << trial;
    EXPECT_NE(rank1_losses.front(), steps.front()["loss"].get<double>()) << trial;
  }
  const std::string report = ReadText(r.dir / "report.md");
  EXPECT_NE(report.find("Data-parallel scaling"), std::string::npos);
  EXPECT_NE(run.text.find("data-parallel scaling"), std::string::npos) << run.text;
}

TEST(DdpE2E, TensorflowAndJaxAverageGradientsAcrossProcesses) {
  std::string tf_skip, jax_skip;
  WorkerEntry(Doctor(), "tensorflow", "function", tf_skip);
  WorkerEntry(Doctor(), "jax", "jit", jax_skip);
  if (!tf_skip.empty() && !jax_skip.empty()) {
    GTEST_SKIP() << "neither TensorFlow (" << tf_skip << ") nor JAX (" << jax_skip << ") runs here";
  }
  std::string backends = "libtorch";
  if (tf_skip.empty()) backends += ",tensorflow/function";
  if (jax_skip.empty()) backends += ",jax";
  const std::string no_hosts = DdpHostsUnavailableReason(2);
  if (!no_hosts.empty()) std::cout << "on one host: " << no_hosts << "\n";
  const std::string hosts = no_hosts.empty() ? "2" : "1";
  const auto out = FreshDir("ddp_e2e_tf_jax");
  const Output run = RunFwbench(
      "run --quick --tasks train_ddp --trials 1 --lr 0.0005 --ddp-processes 2 "
      "--ddp-hosts " +
      hosts + " --backends " + backends + " --out " + out.string());
  ASSERT_EQ(run.code, 0) << run.text;
  const DdpRun r = Load(out);
  const std::string layout = hosts == "2" ? "/p2/h2" : "/p2";
  for (const std::string b : {"tensorflow/function", "jax/jit"}) {
    if ((b[0] == 't' && !tf_skip.empty()) || (b[0] == 'j' && !jax_skip.empty())) continue;
    const std::string id = b + "/train_ddp/b16" + layout;
    ASSERT_TRUE(r.configs.contains(id)) << id << "\n" << run.text;
    EXPECT_EQ(r.configs.at(id)["trials_ok"], 1) << id;
    // A port that summed the gradients, or averaged nothing, leaves LibTorch's losses at step 1.
    EXPECT_EQ(r.configs.at(id)["parity"]["status"], "pass")
        << id << ": " << r.configs.at(id)["parity"].dump();
  }
}

}  // namespace
}  // namespace fwbench::testing
