// The server's LibTorch model hands its outputs to the response as they lie (issue 22), except
// where the tensor is not the call's own: a model's buffer, written again on its next call, or
// the request's input, freed once the request is answered.
#include "backends/served/served_libtorch.h"

#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace fwbench {
namespace {

serve::ModelConfig Config() {
  serve::ModelConfig c;
  c.signature = {"m", {{"x", "FP32", {-1, 4}}}, {{"y", "FP32", {-1, 4}}}};
  return c;
}

// A scripted module with `forward` as given, saved and served.
std::shared_ptr<serve::ServedModel> Serve(const std::string& name, const std::string& forward,
                                          bool with_buffer = false) {
  torch::jit::Module m(name);
  if (with_buffer) m.register_buffer("last", torch::zeros({1, 4}));
  m.define(forward);
  const auto file = std::filesystem::temp_directory_path() / ("fwbench_served_" + name + ".pt");
  m.save(file.string());
  auto served = LoadServedTorchScript(file, Config(), "cpu");
  std::filesystem::remove(file);
  return served;
}

serve::InferRequest Request(std::vector<float> values) {
  serve::InferRequest r;
  serve::InputTensor t;
  t.name = "x";
  t.datatype = "FP32";
  t.shape = {1, 4};
  t.fp32.assign(values.begin(), values.end());
  r.inputs.push_back(std::move(t));
  return r;
}

TEST(ServedLibtorch, AFreshOutputIsAViewThatOutlivesTheBatchAndTheNextOne) {
  torch::set_num_threads(1);
  const auto model = Serve("doubling", "def forward(self, x):\n  return x * 2.0\n");
  const serve::InferRequest a = Request({1, 2, 3, 4});
  const serve::InferRequest b = Request({5, 6, 7, 8});
  auto first = model->RunBatch({&a});
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(first[0][0].fp32.is_view());
  const auto second = model->RunBatch({&b});
  EXPECT_EQ(first[0][0].fp32, (std::vector<float>{2, 4, 6, 8}));
  EXPECT_EQ(second[0][0].fp32, (std::vector<float>{10, 12, 14, 16}));
  // A batch of two: each request's rows are views of the one output.
  const auto both = model->RunBatch({&a, &b});
  ASSERT_EQ(both.size(), 2u);
  EXPECT_TRUE(both[1][0].fp32.is_view());
  EXPECT_EQ(both[1][0].fp32, (std::vector<float>{10, 12, 14, 16}));
}

TEST(ServedLibtorch, AnOutputThatIsTheInputOrTheModelsOwnBufferIsCopied) {
  torch::set_num_threads(1);
  const auto identity = Serve("identity", "def forward(self, x):\n  return x\n");
  const serve::InferRequest a = Request({1, 2, 3, 4});
  const auto same = identity->RunBatch({&a});
  EXPECT_FALSE(same[0][0].fp32.is_view()) << "a view of the request's own input";
  EXPECT_EQ(same[0][0].fp32, (std::vector<float>{1, 2, 3, 4}));

  const auto buffered = Serve("buffered",
                              "def forward(self, x):\n  self.last.copy_(x * 3.0)\n"
                              "  return self.last\n",
                              /*with_buffer=*/true);
  const serve::InferRequest b = Request({1, 1, 1, 1});
  const auto first = buffered->RunBatch({&a});
  (void)buffered->RunBatch({&b});
  EXPECT_FALSE(first[0][0].fp32.is_view()) << "a view of a buffer the next call wrote";
  EXPECT_EQ(first[0][0].fp32, (std::vector<float>{3, 6, 9, 12}));
}

}  // namespace
}  // namespace fwbench
