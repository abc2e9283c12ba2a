// The verdict matrix on constructed results: a clear winner, a tie within noise, and a faster
// configuration that failed parity being excluded from the ranking.
#include "analysis/verdict.h"

#include "analysis/run_results.h"

#include <gtest/gtest.h>

namespace fwbench {
namespace {

// Adds an inference configuration at batch 1 with three trials of the given p50 latencies.
void AddInfer(nlohmann::json& r, const std::string& id, std::vector<double> p50, bool ranked = true,
              const std::string& parity = "pass") {
  r["configurations"].push_back({{"config", id},
                                 {"task", "infer"},
                                 {"batch_size", 1},
                                 {"ranked", ranked},
                                 {"parity", {{"status", parity}}}});
  for (double v : p50) {
    r["trials"].push_back({{"config", id},
                           {"status", "ok"},
                           {"latency_ms", {{"p50", v}}},
                           {"samples_per_s", 1000.0 / v},
                           {"ttfb_s", 1.0},
                           {"peak_rss_bytes", 100e6}});
  }
}

const Verdict& Find(const std::vector<Verdict>& vs, const std::string& prefix) {
  for (const Verdict& v : vs) {
    if (v.criterion.rfind(prefix, 0) == 0) return v;
  }
  throw std::runtime_error("no criterion " + prefix);
}

nlohmann::json Empty() {
  return {{"configurations", nlohmann::json::array()}, {"trials", nlohmann::json::array()}};
}

TEST(Verdict, AClearWinnerIsNamedWithItsAdvantageAndEvidence) {
  nlohmann::json r = Empty();
  AddInfer(r, "fast/compiled/infer/b1", {5.0, 5.1, 4.9});
  AddInfer(r, "slow/eager/infer/b1", {10.0, 10.3, 9.8});
  const auto vs = BuildVerdicts(RunResultsFromJson(r), 0.05);
  const Verdict& v = Find(vs, "inference latency");
  EXPECT_EQ(v.winner, "fast/compiled/infer/b1");
  EXPECT_EQ(v.runner_up, "slow/eager/infer/b1");
  EXPECT_FALSE(v.tie);
  EXPECT_NEAR(v.advantage.value, 2.0, 0.1);
  EXPECT_GT(v.advantage.ci_lo, 1.5);
  const auto lines = PickLines(vs);
  EXPECT_NE(std::find_if(lines.begin(), lines.end(),
                         [](const std::string& l) {
                           return l.rfind(
                                      "pick fast/compiled/infer/b1 if you care about "
                                      "inference latency",
                                      0) == 0;
                         }),
            lines.end());
  // Same TTFB and memory: ties, said as such.
  EXPECT_TRUE(Find(vs, "cold start").tie);
  EXPECT_TRUE(Find(vs, "memory").tie);
}

TEST(Verdict, OverlappingMeasurementsAreATieWithinNoise) {
  nlohmann::json r = Empty();
  AddInfer(r, "a/eager/infer/b1", {10.0, 11.5, 9.0});
  AddInfer(r, "b/eager/infer/b1", {10.4, 9.6, 11.0});
  const auto vs = BuildVerdicts(RunResultsFromJson(r), 0.05);
  const Verdict& v = Find(vs, "inference latency");
  EXPECT_TRUE(v.tie) << v.evidence;
  bool said = false;
  for (const std::string& l : PickLines(vs)) {
    said = said || l.find("inference latency (p50, batch 1): tie — within noise") == 0;
  }
  EXPECT_TRUE(said);
}

TEST(Verdict, AParityFailureIsExcludedEvenWhenItIsFastest) {
  nlohmann::json r = Empty();
  AddInfer(r, "wrong/compiled/infer/b1", {1.0, 1.0, 1.0}, /*ranked=*/false, "fail");
  AddInfer(r, "fast/compiled/infer/b1", {5.0, 5.1, 4.9});
  AddInfer(r, "slow/eager/infer/b1", {10.0, 10.3, 9.8});
  const auto verdicts = BuildVerdicts(RunResultsFromJson(r), 0.05);
  const Verdict& v = Find(verdicts, "inference latency");
  EXPECT_EQ(v.winner, "fast/compiled/infer/b1");
  ASSERT_EQ(v.excluded.size(), 1u);
  EXPECT_EQ(v.excluded[0], "wrong/compiled/infer/b1: not ranked (parity fail)");
}

TEST(Verdict, AnAdvantageUnderTheThresholdIsATie) {
  nlohmann::json r = Empty();
  AddInfer(r, "a/eager/infer/b1", {10.0, 10.01, 9.99});
  AddInfer(r, "b/eager/infer/b1", {10.3, 10.31, 10.29});  // 3% slower, very tight
  EXPECT_TRUE(Find(BuildVerdicts(RunResultsFromJson(r), 0.05), "inference latency").tie);
  EXPECT_FALSE(Find(BuildVerdicts(RunResultsFromJson(r), 0.01), "inference latency").tie);
}

// A compiled configuration beside its eager twin, as results.json's `compile` says it.
nlohmann::json Compiled(const std::string& id, const std::string& task, double median, double lo,
                        double hi, bool ranked = true) {
  return {{"config", id},
          {"backend", "x"},
          {"task", task},
          {"batch_size", 1},
          {"ranked", ranked},
          {"trials_ok", 3},
          {"parity", {{"status", ranked ? "pass" : "fail"}}},
          {"compile",
           {{"eager_config", "x/eager/" + task + "/b1"},
            {"speedup", {{"median", median}, {"ci95_lo", lo}, {"ci95_hi", hi}, {"n", 3}}},
            {"compile_s", 0.7},
            {"break_even_steps", 12.2}}}};
}

TEST(Verdict, CompileGainNamesTheCompiledModeOnlyWhenItsSpeedupIsReal) {
  nlohmann::json r = Empty();
  r["configurations"].push_back(Compiled("x/compiled/infer/b1", "infer", 4.6, 3.6, 5.6));
  r["configurations"].push_back(Compiled("x/wrong/infer/b1", "infer", 9.0, 8.0, 10.0, false));
  r["configurations"].push_back(Compiled("x/compiled/train/b1", "train", 1.06, 0.97, 1.22));
  const auto vs = BuildVerdicts(RunResultsFromJson(r), 0.05);
  const Verdict& infer = Find(vs, "compile gain (inference)");
  EXPECT_EQ(infer.winner, "x/compiled/infer/b1");  // the faster one failed parity
  EXPECT_EQ(infer.runner_up, "x/eager/infer/b1");
  EXPECT_FALSE(infer.tie);
  EXPECT_NE(infer.evidence.find("break-even 13 steps"), std::string::npos) << infer.evidence;
  ASSERT_EQ(infer.excluded.size(), 1u);
  EXPECT_EQ(infer.excluded[0], "x/wrong/infer/b1: not ranked (parity fail)");
  EXPECT_TRUE(Find(vs, "compile gain (training)").tie);  // CI includes 1
}

TEST(Verdict, ACompiledModeThatIsSignificantlySlowerLosesToItsEagerTwin) {
  nlohmann::json r = Empty();
  r["configurations"].push_back(Compiled("x/compiled/infer/b1", "infer", 0.5, 0.45, 0.55));
  const auto verdicts = BuildVerdicts(RunResultsFromJson(r), 0.05);
  const Verdict& v = Find(verdicts, "compile gain (inference)");
  EXPECT_EQ(v.winner, "x/eager/infer/b1");
  EXPECT_FALSE(v.tie);
  EXPECT_NEAR(v.advantage.value, 2.0, 1e-9);
  EXPECT_NEAR(v.advantage.ci_lo, 1.0 / 0.55, 1e-9);
}

TEST(Verdict, PortabilityCountsTasksRunWithParityAndSaysWhyOthersDidNotRun) {
  nlohmann::json r = Empty();
  const auto add = [&](const std::string& backend, const std::string& task, bool ranked) {
    r["configurations"].push_back({{"config", backend + "/m/" + task + "/b1"},
                                   {"backend", backend},
                                   {"task", task},
                                   {"batch_size", 1},
                                   {"ranked", ranked},
                                   {"trials_ok", 3}});
  };
  add("a", "train", true);
  add("a", "infer", true);
  add("b", "infer", true);
  add("c", "train", false);
  add("c", "infer", true);
  r["env"] = {
      {"workers", {{{"name", "b"}, {"mode_unavailable", {{"wasm/train", "no gradient kernel"}}}}}}};
  const auto vs = BuildVerdicts(RunResultsFromJson(r), 0.05);
  const Verdict& v = Find(vs, "portability");
  EXPECT_FALSE(v.ratio);
  EXPECT_EQ(v.winner, "a");
  EXPECT_FALSE(v.tie);
  EXPECT_NE(v.evidence.find("a 2/2"), std::string::npos) << v.evidence;
  EXPECT_NE(v.evidence.find("b 1/2 (train: no gradient kernel)"), std::string::npos) << v.evidence;
  EXPECT_NE(v.evidence.find("c 1/2 (train: ran without passing parity)"), std::string::npos)
      << v.evidence;
  // Deployment is a row without a winner, and no "pick" line claims one.
  const Verdict& d = Find(vs, "deployment");
  EXPECT_TRUE(d.winner.empty());
  for (const std::string& l : PickLines(vs)) EXPECT_EQ(l.find("deployment"), std::string::npos);
  EXPECT_FALSE(ToJson(v).contains("advantage"));
}

// What stopped a backend, in its own words: a failed load's message, an interrupted run's
// configuration with no trial (not "failed"), and a user's model a runtime cannot load at all.
TEST(Verdict, PortabilityQuotesTheFailureAndListsRuntimesThatCannotLoadTheModel) {
  nlohmann::json r = Empty();
  const auto add = [&](const std::string& backend, int ok) {
    r["configurations"].push_back({{"config", backend + "/m/infer/b1"},
                                   {"backend", backend},
                                   {"task", "infer"},
                                   {"batch_size", 1},
                                   {"ranked", ok > 0},
                                   {"trials_ok", ok}});
  };
  add("a", 3);
  add("b", 0);
  add("c", 0);
  r["trials"].push_back({{"config", "b/m/infer/b1"},
                         {"status", "failed"},
                         {"reason", "worker error: OpenCV cannot load m.onnx: node Reshape"}});
  r["user_model"] = {{"runtimes",
                      {{"a", {{"loads", "onnx"}}},
                       {"d", {{"refused", "the conversion of m to onnx failed: no tf2onnx"}}}}}};
  const Verdict& v = Find(BuildVerdicts(RunResultsFromJson(r), 0.05), "portability");
  EXPECT_EQ(v.winner, "a");
  EXPECT_NE(v.evidence.find("b 0/1 (infer: its trials failed: worker error: OpenCV cannot load "
                            "m.onnx: node Reshape)"),
            std::string::npos)
      << v.evidence;
  EXPECT_NE(v.evidence.find("c 0/1 (infer: no trial of it ran)"), std::string::npos) << v.evidence;
  EXPECT_NE(v.evidence.find("d 0/1 (infer: the conversion of m to onnx failed: no tf2onnx)"),
            std::string::npos)
      << v.evidence;
}

TEST(Verdicts, DeploymentRowRanksServersByRateAtTheBoundLeavingOutFailuresAndSkips) {
  nlohmann::json r = {{"configurations", nlohmann::json::array()},
                      {"trials", nlohmann::json::array()}};
  const auto server = [](const std::string& name, double rate) {
    return nlohmann::json{{"name", name},
                          {"max_rate_per_s", rate},
                          {"time_to_ready_s", 0.5},
                          {"step_count", 3},
                          {"parity", {{"status", "pass"}}}};
  };
  nlohmann::json wrong = server("wrong", 99.0);
  wrong["parity"] = {{"status", "FAIL"}, {"max_abs", 0.3}};
  r["deployment"] = {
      {"p99_bound_ms", 500},
      {"servers",
       {server("fwbench serve (batching)", 16.0),
        server("fastapi + uvicorn", 12.0),
        wrong,
        {{"name", "tfserving"}, {"skipped", "not installed"}},
        {{"name", "opencv"}, {"failed", "it exited with code 1 before it was ready:\nlog tail"}}}}};
  Verdict d = Find(BuildVerdicts(RunResultsFromJson(r), 0.05), "deployment");
  EXPECT_EQ(d.winner, "fwbench serve (batching)");
  EXPECT_EQ(d.runner_up, "fastapi + uvicorn");
  EXPECT_FALSE(d.tie);
  EXPECT_FALSE(d.ratio);
  EXPECT_NE(d.evidence.find("p99 ≤ 500 ms"), std::string::npos) << d.evidence;
  EXPECT_NE(d.evidence.find("fastapi + uvicorn 12/s"), std::string::npos) << d.evidence;
  ASSERT_EQ(d.excluded.size(), 3u);
  EXPECT_EQ(d.excluded[0], "wrong: parity fail");
  EXPECT_NE(d.excluded[1].find("tfserving: not run (not installed)"), std::string::npos);
  // A server that never got ready is left out with its reason's first line, not its log.
  EXPECT_EQ(d.excluded[2], "opencv: failed (it exited with code 1 before it was ready:)");
  // 16 vs 15.5/s is inside the search's resolution: a tie.
  r["deployment"]["servers"][1]["max_rate_per_s"] = 15.5;
  d = Find(BuildVerdicts(RunResultsFromJson(r), 0.05), "deployment");
  EXPECT_TRUE(d.tie);
}

TEST(Verdict, OneOrTwoTrialsNameNoWinnerAndSaySoInsteadOfAZeroWidthInterval) {
  nlohmann::json r = Empty();
  AddInfer(r, "fast/compiled/infer/b1", {5.0});
  AddInfer(r, "slow/eager/infer/b1", {10.0, 10.2});
  const auto vs = BuildVerdicts(RunResultsFromJson(r), 0.05);
  const Verdict& v = Find(vs, "inference latency");
  EXPECT_TRUE(v.too_few_trials);
  EXPECT_TRUE(v.tie) << "not a win";
  EXPECT_EQ(v.advantage.n, 1u);
  EXPECT_NE(v.evidence.find("too few for a confidence interval"), std::string::npos) << v.evidence;
  const nlohmann::json j = ToJson(v);
  EXPECT_TRUE(j["too_few_trials"].get<bool>());
  EXPECT_FALSE(j["advantage"].contains("ci95_lo")) << "no interval of no width";
  const auto lines = PickLines(vs);
  EXPECT_NE(std::find_if(lines.begin(), lines.end(),
                         [](const std::string& l) {
                           return l.rfind("inference latency (p50, batch 1): undecided", 0) == 0;
                         }),
            lines.end());
  for (const auto& l : lines) EXPECT_EQ(l.rfind("pick fast", 0), std::string::npos) << l;

  // The same for compile gain, whose speed-up carries its trial count.
  nlohmann::json one = Empty();
  auto compiled = Compiled("x/compiled/infer/b1", "infer", 4.6, 4.6, 4.6);
  compiled["compile"]["speedup"]["n"] = 1;
  one["configurations"].push_back(compiled);
  EXPECT_TRUE(Find(BuildVerdicts(RunResultsFromJson(one), 0.05), "compile gain (inference)")
                  .too_few_trials);

  // Three each: a verdict again.
  r = Empty();
  AddInfer(r, "fast/compiled/infer/b1", {5.0, 5.1, 4.9});
  AddInfer(r, "slow/eager/infer/b1", {10.0, 10.3, 9.8});
  EXPECT_FALSE(
      Find(BuildVerdicts(RunResultsFromJson(r), 0.05), "inference latency").too_few_trials);
}

}  // namespace
}  // namespace fwbench

namespace fwbench {
namespace {

// An LLM run asks its own questions: fine-tuning tokens/s, time to the first token, and the
// whole answer's latency (tokens, not samples, and no image-workload criteria).
TEST(Verdict, AnLlmRunIsJudgedOnTokensTimeToFirstTokenAndTheWholeAnswer) {
  RunResults r;
  r.plan = {{"workload", "llm_lora"}, {"llm.decode_tokens", "16"}};
  const auto config = [&](const std::string& id, const std::string& task) {
    ConfigurationResult c;
    c.summary.config = id;
    c.summary.task = task;
    c.summary.batch_size = 1;
    c.ranked = true;
    r.configurations.push_back(c);
  };
  const auto trial = [&](const std::string& id, double steps_per_s, double ttft_s) {
    TrialMetrics m;
    m.config = id;
    m.ok = true;
    m.steps_per_s = steps_per_s;
    m.tokens_per_step = 256;
    m.samples_per_s = steps_per_s;
    m.latency_p50_ms = 1e3 / steps_per_s;
    m.steady_ttft_s = {ttft_s, ttft_s};
    r.trials.push_back({m, 0, 0, 0, ""});
  };
  config("fast/train/b1", "train");
  config("slow/train/b1", "train");
  config("fast/infer/b1", "infer");
  config("slow/infer/b1", "infer");
  for (double jitter : {0.99, 1.0, 1.01}) {
    trial("fast/train/b1", 20 * jitter, 0);
    trial("slow/train/b1", 10 * jitter, 0);
    trial("fast/infer/b1", 4 * jitter, 0.004 * jitter);
    trial("slow/infer/b1", 2 * jitter, 0.012 * jitter);
  }
  const auto vs = BuildVerdicts(r, 0.05);
  const Verdict& train = Find(vs, "LLM fine-tuning throughput (tokens/s)");
  EXPECT_EQ(train.winner, "fast/train/b1");
  EXPECT_NEAR(train.advantage.value, 2.0, 0.05);
  const Verdict& ttft = Find(vs, "LLM generation latency (time to first token, batch 1)");
  EXPECT_EQ(ttft.winner, "fast/infer/b1");
  EXPECT_NEAR(ttft.advantage.value, 3.0, 0.1);
  const Verdict& whole = Find(vs, "LLM generation latency (a whole 16-token answer, p50, batch 1)");
  EXPECT_EQ(whole.winner, "fast/infer/b1");
  for (const Verdict& v : vs) {
    EXPECT_EQ(v.criterion.find("inference throughput"), std::string::npos) << v.criterion;
    EXPECT_NE(v.criterion, "training throughput");
  }
}

}  // namespace
}  // namespace fwbench
