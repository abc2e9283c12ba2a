// Task input_pipeline: the configurations a plan expands to (loader workers × consumer, the
// cores they need) and the spec each trial gets (docs/data-pipelines.md).
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/protocol.h"
#include "core/trial_spec.h"
#include "orchestrate/run_plan.h"

namespace fwbench {
namespace {

std::vector<BuiltinBackend> Catalogue() {
  std::vector<BuiltinBackend> out = BuiltinWorkerCatalogue();
  for (BuiltinBackend& b : out) {
    b.command = {"/w/" + b.name, "{spec}"};
    if (b.name != "pytorch" && b.name != "tensorflow" && b.name != "keras3") {
      b.unavailable = "not installed";
    }
  }
  return out;
}

std::vector<std::string> Ids(const std::vector<Configuration>& configs) {
  std::vector<std::string> ids;
  for (const Configuration& c : configs) ids.push_back(c.id);
  return ids;
}

Plan PipelinePlan() {
  Plan plan;
  plan.tasks = {kTaskInputPipeline};
  plan.train_batch_size = 8;
  return plan;
}

TEST(InputPipelinePlan, AutoRunsEachBackendsLoaderInItsOneModeOverWorkersAndConsumers) {
  Plan plan = PipelinePlan();
  plan.pipeline.workers = {0, 2};
  std::vector<std::string> left_out;
  const auto configs = ExpandConfigurations(plan, "/x/fwbench", 2, Catalogue(), &left_out);
  // Keras 3 has no pipeline of its own; PyTorch's compiled mode and TensorFlow's eager one are
  // not the modes that feed the training step. Two workers beside a training thread need 3
  // cores of the 2 here.
  EXPECT_EQ(Ids(configs),
            (std::vector<std::string>{
                "libtorch/eager/input_pipeline/b8/w0", "libtorch/eager/input_pipeline/b8/w2",
                "libtorch/eager/input_pipeline/b8/w0/train", "pytorch/eager/input_pipeline/b8/w0",
                "pytorch/eager/input_pipeline/b8/w2", "pytorch/eager/input_pipeline/b8/w0/train",
                "tensorflow/xla/input_pipeline/b8/w0", "tensorflow/xla/input_pipeline/b8/w2",
                "tensorflow/xla/input_pipeline/b8/w0/train"}));
  ASSERT_EQ(left_out.size(), 3u);
  EXPECT_EQ(left_out[0],
            "libtorch/eager/input_pipeline/b8/w2/train: 2 loader workers beside 1 training thread "
            "need 3 cores; 2 are usable");
  EXPECT_EQ(configs[1].loader, "cpp");
  EXPECT_EQ(configs[4].loader, "dataloader");
  EXPECT_EQ(configs[7].loader, "tf.data");
  EXPECT_EQ(BusyCores(configs[1]), 3);  // 2 workers and the consumer: run, and watched
  EXPECT_EQ(BusyCores(configs[0]), 1);
  EXPECT_EQ(ToJson(configs[2])["model_step"], "train");
}

TEST(InputPipelinePlan, ABackendWithoutAPipelineOrInAnotherModeIsRefusedByName) {
  Plan plan = PipelinePlan();
  for (const auto& [backends, message] : std::vector<std::pair<std::string, std::string>>{
           {"keras3", "keras3 runs train, infer only"},
           {"pytorch/compiled", "pytorch runs input_pipeline in mode eager only"}}) {
    plan.backends = {backends};
    try {
      ExpandConfigurations(plan, "/x/fwbench", 2, Catalogue());
      FAIL() << backends << ": no error";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }
}

TEST(InputPipelinePlan, TheSpecNamesTheLoaderItsWorkersAndTheSourceAndReadsBack) {
  Plan plan = PipelinePlan();
  plan.backends = {"pytorch"};
  plan.pipeline.workers = {1};
  plan.pipeline.model_steps = {"train"};
  plan.pipeline.images_dir = FWBENCH_TEST_DIR;  // any folder: the spec only names it
  const auto configs = ExpandConfigurations(plan, "/x/fwbench", 4, Catalogue());
  ASSERT_EQ(Ids(configs),
            (std::vector<std::string>{"pytorch/eager/input_pipeline/b8/w1/images/train"}));
  RunInputs inputs;
  inputs.data_dir = "/data";
  const TrialSpec first = MakeTrialSpec(plan, configs[0], inputs, 0, "t1", "/out/t1");
  const TrialSpec second = MakeTrialSpec(plan, configs[0], inputs, 1, "t2", "/out/t2");
  EXPECT_EQ(first.pipeline.loader, "dataloader");
  EXPECT_EQ(first.pipeline.workers, 1);
  EXPECT_EQ(first.pipeline.source, kPipelineSourceFolder);
  EXPECT_EQ(first.pipeline.model_step, "train");
  EXPECT_TRUE(first.augment);
  EXPECT_TRUE(first.shuffle);
  EXPECT_EQ(first.pipeline.check_batches, 2);
  EXPECT_EQ(second.pipeline.check_batches, 0);  // one trial's batches are enough to check
  const TrialSpec back = TrialSpecFromJson(ToJson(first), "spec.json");
  EXPECT_EQ(back.pipeline.loader, "dataloader");
  EXPECT_EQ(back.pipeline.images_dir, first.pipeline.images_dir);
  EXPECT_EQ(back.pipeline.model_step, "train");
}

TEST(InputPipelinePlan, ASpecWithABadPipelineNamesTheField) {
  Plan plan = PipelinePlan();
  plan.backends = {"libtorch"};
  const auto configs = ExpandConfigurations(plan, "/x/fwbench", 2, Catalogue());
  nlohmann::json spec = ToJson(MakeTrialSpec(plan, configs[0], RunInputs{}, 0, "t", "/o"));
  spec["pipeline"]["loader"] = "petastorm";
  try {
    TrialSpecFromJson(spec, "spec.json");
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("spec.json: field \"pipeline\": loader must be"),
              std::string::npos)
        << e.what();
  }
  spec.erase("pipeline");
  EXPECT_THROW(TrialSpecFromJson(spec, "spec.json"), UsageError);
}

TEST(InputPipelinePlan, ALoaderPoolMustHoldTheWorkersAndOnlyInAPipelineTrial) {
  const nlohmann::json hello = {
      {"thread_pools",
       {{{"name", "torch"}, {"role", "compute"}, {"set", 1}, {"read", 1}},
        {{"name", "DataLoader worker processes"}, {"role", "loader"}, {"set", 2}, {"read", 2}}}}};
  EXPECT_EQ(protocol::CheckThreadPools(hello, 1, 2), std::nullopt);
  EXPECT_NE(protocol::CheckThreadPools(hello, 1, 1), std::nullopt);
  EXPECT_NE(protocol::CheckThreadPools(hello, 1, 0), std::nullopt);
  // Workers configured, no loader pool reported: the trial would run threads nobody counted.
  const nlohmann::json no_loader = {
      {"thread_pools", {{{"name", "torch"}, {"role", "compute"}, {"set", 1}, {"read", 1}}}}};
  const auto why = protocol::CheckThreadPools(no_loader, 1, 2);
  ASSERT_NE(why, std::nullopt);
  EXPECT_NE(why->find("no loader thread pool"), std::string::npos) << *why;
}

}  // namespace
}  // namespace fwbench
