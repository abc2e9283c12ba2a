#include "orchestrate/plan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <set>

#include "core/error.h"

namespace fwbench {
namespace {

std::filesystem::path WritePlan(const std::string& name, const std::string& text) {
  const auto dir = std::filesystem::temp_directory_path() / "fwbench_plan_test";
  std::filesystem::create_directories(dir);
  const auto path = dir / name;
  std::ofstream(path) << text;
  return path;
}

std::string UsageMessage(const std::function<void()>& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "<no UsageError>";
}

TEST(Plan, FileOverridesDefaults) {
  Plan plan;
  ApplyPlanFile(plan, WritePlan("ok.toml", R"(
name = "mine"
trials = 5
backends = ["libtorch"]
[model]
arch = "resnet50"
[train]
batch_size = 64
lr = 0.1
[infer]
batch_sizes = [1, 4]
[workers.fake]
command = ["prog", "{spec}"]
mode = "compiled"
)"));
  EXPECT_EQ(plan.name, "mine");
  EXPECT_EQ(plan.trials, 5);
  EXPECT_EQ(plan.arch, "resnet50");
  EXPECT_EQ(plan.train_batch_size, 64);
  EXPECT_DOUBLE_EQ(plan.optimizer.lr, 0.1);
  EXPECT_EQ(plan.infer_batch_sizes, (std::vector<std::int64_t>{1, 4}));
  ASSERT_EQ(plan.workers.count("fake"), 1u);
  EXPECT_EQ(plan.workers["fake"].mode, "compiled");
  EXPECT_EQ(plan.stem, Plan{}.stem);  // untouched fields keep their defaults
  EXPECT_NO_THROW(ValidatePlan(plan));
}

// A PyTorch module in place of a model file (--model-py): the user_model workload, one model
// only, and the MODULE:FACTORY grammar checked before anything runs.
TEST(Plan, AModuleRunsTheUserModelWorkloadAndIsOneModelOnly) {
  Plan plan;
  plan.model_py = "mypkg.models:build";
  ResolveWorkload(plan);
  EXPECT_EQ(plan.workload, "user_model");
  plan.tasks = {"infer"};
  EXPECT_NO_THROW(ValidatePlan(plan));
  EXPECT_NE(ToToml(plan).find("py = \"mypkg.models:build\""), std::string::npos) << ToToml(plan);
  Plan both = plan;
  both.model_file = "m.onnx";
  EXPECT_NE(UsageMessage([&] {
              ValidatePlan(both);
            }).find("model.py: and model.file (m.onnx) are both set"),
            std::string::npos)
      << UsageMessage([&] { ValidatePlan(both); });
  for (const std::string bad : {"mypkg.models", ":build", "mypkg:", "my pkg:build"}) {
    Plan p = plan;
    p.model_py = bad;
    EXPECT_NE(UsageMessage([&] { ValidatePlan(p); }).find("is not MODULE:FACTORY"),
              std::string::npos)
        << bad << ": " << UsageMessage([&] { ValidatePlan(p); });
  }
  Plan image;
  image.model_py = "mypkg.models:build";
  image.workload = "llm_lora";
  EXPECT_NE(UsageMessage([&] { ValidatePlan(image); }).find("model.py"), std::string::npos);
}

TEST(Plan, UnknownKeyNamesFileLineAndKnownKeys) {
  const auto path = WritePlan("unknown.toml", "[train]\nbach_size = 3\n");
  Plan plan;
  const std::string msg = UsageMessage([&] { ApplyPlanFile(plan, path); });
  EXPECT_NE(msg.find("unknown.toml:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("train.bach_size"), std::string::npos) << msg;
  EXPECT_NE(msg.find("batch_size"), std::string::npos) << msg;
}

TEST(Plan, AWorkersPythonNamesTheInterpreterOfABuiltinWorker) {
  Plan plan;
  ApplyPlanFile(plan, WritePlan("python.toml", "[workers.pytorch]\npython = \"/bin/sh\"\n"));
  EXPECT_EQ(plan.worker_pythons.at("pytorch"), "/bin/sh");
  EXPECT_TRUE(plan.workers.empty());
  EXPECT_NE(ToToml(plan).find("[workers.pytorch]\npython = \"/bin/sh\""), std::string::npos);
  // Not a Python worker, not executable, or mixed with a command: one message naming the field.
  for (const auto& [text, expected] : std::vector<std::pair<std::string, std::string>>{
           {"[workers.tfjs]\npython = \"/bin/sh\"\n", "not a built-in Python worker"},
           {"[workers.jax]\npython = \"/nonexistent/python\"\n", "is not an executable file"},
           {"[workers.jax]\npython = 3\n", "expected the path of a Python interpreter"},
           {"[workers.jax]\npython = \"/bin/sh\"\ncommand = [\"x\", \"{spec}\"]\n",
            "has no other key"}}) {
    Plan p;
    const std::string msg = UsageMessage([&] { ApplyPlanFile(p, WritePlan("py.toml", text)); });
    EXPECT_NE(msg.find("py.toml:1: workers."), std::string::npos) << msg;
    EXPECT_NE(msg.find(expected), std::string::npos) << msg;
  }
}

TEST(Plan, UnknownSectionIsRejected) {
  Plan plan;
  const std::string msg =
      UsageMessage([&] { ApplyPlanFile(plan, WritePlan("sec.toml", "[trian]\nx = 1\n")); });
  EXPECT_NE(msg.find("trian"), std::string::npos) << msg;
}

TEST(Plan, WrongTypeNamesKeyAndExpectedType) {
  Plan plan;
  const std::string msg =
      UsageMessage([&] { ApplyPlanFile(plan, WritePlan("type.toml", "trials = \"3\"\n")); });
  EXPECT_NE(msg.find("type.toml:1: trials"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected integer"), std::string::npos) << msg;
  const std::string list = UsageMessage(
      [&] { ApplyPlanFile(plan, WritePlan("list.toml", "[infer]\nbatch_sizes = [1, \"x\"]\n")); });
  EXPECT_NE(list.find("infer.batch_sizes"), std::string::npos) << list;
}

TEST(Plan, MalformedTomlNamesLine) {
  Plan plan;
  const std::string msg =
      UsageMessage([&] { ApplyPlanFile(plan, WritePlan("bad.toml", "trials = 3\nname = \n")); });
  EXPECT_NE(msg.find("bad.toml:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not valid TOML"), std::string::npos) << msg;
}

// Issue 17: 100,000 dotted parts crashed `fwbench run` (a stack overflow in toml++).
TEST(Plan, AKeyNestedPastTheBoundNamesItsLineInsteadOfCrashing) {
  Plan plan;
  std::string key = "train";
  for (int i = 0; i < 100'000; ++i) key += ".a";
  const std::string msg = UsageMessage(
      [&] { ApplyPlanFile(plan, WritePlan("deep.toml", "trials = 3\n" + key + " = 1\n")); });
  EXPECT_NE(msg.find("deep.toml:2: a key with more than 64 dot-separated parts"), std::string::npos)
      << msg.substr(0, 300);
  // Deep inline values stop at toml++'s own bound, with the file and line.
  const std::string nested = "x = " + std::string(100'000, '[') + std::string(100'000, ']');
  const std::string msg2 =
      UsageMessage([&] { ApplyPlanFile(plan, WritePlan("deep2.toml", nested + "\n")); });
  EXPECT_NE(msg2.find("deep2.toml:1"), std::string::npos) << msg2.substr(0, 300);
}

TEST(Plan, MissingFile) {
  Plan plan;
  const std::string msg = UsageMessage([&] { ApplyPlanFile(plan, "/nonexistent/plan.toml"); });
  EXPECT_NE(msg.find("/nonexistent/plan.toml"), std::string::npos) << msg;
}

TEST(Plan, ValidationNamesField) {
  Plan plan;
  plan.tasks = {"train", "fly"};
  EXPECT_NE(UsageMessage([&] { ValidatePlan(plan); }).find("tasks"), std::string::npos);
  plan = Plan{};
  plan.trials = 0;
  EXPECT_NE(UsageMessage([&] { ValidatePlan(plan); }).find("trials"), std::string::npos);
  plan = Plan{};
  plan.train_budget.max_steps = 2;
  plan.train_budget.min_steps = 5;
  EXPECT_NE(UsageMessage([&] { ValidatePlan(plan); }).find("train.max_steps"), std::string::npos);
}

TEST(Plan, EveryFieldHasAFlagAndRoundTripsThroughText) {
  const Plan defaults;
  std::set<std::string> flags;
  for (const PlanField& f : PlanFields()) {
    EXPECT_TRUE(f.flag.starts_with("--")) << f.key;
    EXPECT_TRUE(flags.insert(f.flag).second) << "duplicate flag " << f.flag;
    Plan copy;
    f.set_from_text(copy, f.to_text(defaults), f.key);
    EXPECT_EQ(f.to_text(copy), f.to_text(defaults)) << f.key;
  }
}

TEST(Plan, FlagTextIsValidated) {
  Plan plan;
  const PlanField* trials = nullptr;
  for (const PlanField& f : PlanFields()) {
    if (f.key == "trials") trials = &f;
  }
  ASSERT_NE(trials, nullptr);
  const std::string msg = UsageMessage([&] { trials->set_from_text(plan, "three", "--trials"); });
  EXPECT_NE(msg.find("--trials"), std::string::npos) << msg;
}

TEST(Plan, TomlOutputReadsBackToTheSamePlan) {
  Plan plan;
  plan.name = "round \"trip\"";
  plan.infer_batch_sizes = {2, 3};
  plan.workers["w"] = {{"a", "{spec}"}, "compiled"};
  Plan back;
  ApplyPlanFile(back, WritePlan("rt.toml", ToToml(plan)));
  EXPECT_EQ(ToJson(back), ToJson(plan));
}

TEST(Plan, AnLlmPlanReadsItsSectionAndAnImagePlanLeavesItOut) {
  Plan plan;
  ApplyPlanFile(plan, WritePlan("llm.toml", R"(workload = "llm_lora"
[llm]
preset = "125m"
seq_len = 256
lora_targets = ["q_proj", "k_proj", "v_proj"]
lora_rank = 16
)"));
  EXPECT_EQ(plan.workload, "llm_lora");
  EXPECT_EQ(plan.llm.preset, "125m");
  EXPECT_EQ(plan.llm.seq_len, 256);
  EXPECT_EQ(plan.llm.lora_targets, (std::vector<std::string>{"q_proj", "k_proj", "v_proj"}));
  const std::string toml = ToToml(plan);
  EXPECT_NE(toml.find("[llm]"), std::string::npos);
  Plan back;
  ApplyPlanFile(back, WritePlan("llm-rt.toml", toml));
  EXPECT_EQ(ToJson(back), ToJson(plan));
  EXPECT_EQ(ToToml(Plan{}).find("[llm]"), std::string::npos);

  plan.workload = "speech";
  try {
    ValidatePlan(plan);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("plan field workload: unknown workload 'speech'"),
              std::string::npos)
        << e.what();
  }
  plan.workload = "llm_lora";
  plan.llm.seq_len = 0;
  try {
    ValidatePlan(plan);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("llm.seq_len: must be at least 1"), std::string::npos)
        << e.what();
  }
}

TEST(Plan, ExamplesAreValidAndDefaultTomlIsTheBuiltInDefault) {
  const std::filesystem::path examples = std::filesystem::path(FWBENCH_SOURCE_DIR) / "examples";
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(examples)) {
    if (entry.path().extension() != ".toml") continue;
    ++seen;
    Plan plan;
    EXPECT_NO_THROW(ApplyPlanFile(plan, entry.path())) << entry.path();
    EXPECT_NO_THROW(ValidatePlan(plan)) << entry.path();
  }
  EXPECT_GE(seen, 2);
  Plan from_file;
  ApplyPlanFile(from_file, examples / "default.toml");
  EXPECT_EQ(ToJson(from_file), ToJson(Plan{})) << "examples/default.toml drifted from the defaults";
}

TEST(Plan, RejectsNonFiniteDuplicateAndSpeclessSettings) {
  Plan plan;
  plan.trial_timeout_s = std::numeric_limits<double>::infinity();
  EXPECT_NE(UsageMessage([&] { ValidatePlan(plan); }).find("trial_timeout_s"), std::string::npos);
  plan = Plan{};
  plan.train_budget.max_seconds = std::nan("");
  EXPECT_NE(UsageMessage([&] { ValidatePlan(plan); }).find("train.max_seconds"), std::string::npos);
  plan = Plan{};
  plan.infer_batch_sizes = {8, 8};
  EXPECT_NE(UsageMessage([&] { ValidatePlan(plan); }).find("infer.batch_sizes"), std::string::npos);
  plan = Plan{};
  plan.workers["w"] = {{"prog", "spec.json"}, "eager"};
  EXPECT_NE(UsageMessage([&] { ValidatePlan(plan); }).find("{spec}"), std::string::npos);
}

TEST(Plan, PrecisionsFormatsAndThreadsAreValidatedWithTheSupportedList) {
  Plan plan;
  plan.precisions = {"fp32", "fp16"};
  std::string msg = UsageMessage([&] { ValidatePlan(plan); });
  EXPECT_NE(msg.find("precisions"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fp32, bf16"), std::string::npos) << msg;
  plan = Plan{};
  plan.memory_formats = {"nhwc"};
  msg = UsageMessage([&] { ValidatePlan(plan); });
  EXPECT_NE(msg.find("contiguous, channels_last"), std::string::npos) << msg;
  plan = Plan{};
  plan.threads = {1, -2};
  EXPECT_NE(UsageMessage([&] { ValidatePlan(plan); }).find("threads"), std::string::npos);
  plan = Plan{};
  plan.threads = {2, 2};
  EXPECT_NE(UsageMessage([&] { ValidatePlan(plan); }).find("threads"), std::string::npos);
}

TEST(Plan, ScalarThreadsInTomlMeansAListOfOne) {
  Plan plan;
  ApplyPlanFile(plan, WritePlan("threads.toml", "threads = 2\nprecisions = \"bf16\"\n"));
  EXPECT_EQ(plan.threads, (std::vector<std::int64_t>{2}));
  EXPECT_EQ(plan.precisions, (std::vector<std::string>{"bf16"}));
  ApplyPlanFile(plan, WritePlan("threads2.toml", "threads = [1, 2]\n"));
  EXPECT_EQ(plan.threads, (std::vector<std::int64_t>{1, 2}));
}

}  // namespace
}  // namespace fwbench
