// A user's model inputs (pipeline/user_model.h): the model's own declaration completed by the
// plan's --input, and one clear error for each way the two disagree.
#include "pipeline/user_model.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "data/safetensors.h"

namespace fwbench::pipeline {
namespace {

const nlohmann::json kDescribed = {
    {"inputs",
     {{{"name", "ids"}, {"dtype", "int64"}, {"shape", {"batch", "seq"}}},
      {{"name", "mask"}, {"dtype", "float32"}, {"shape", {nullptr, 16}}}}}};

std::string ErrorOf(const std::vector<std::string>& declared,
                    const std::vector<std::int64_t>& batches = {1, 8},
                    const nlohmann::json& described = kDescribed) {
  try {
    ResolveUserModelInputs("m.onnx", described, declared, batches);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(UserModelInputs, TheModelsShapesAreCompletedByThePlanWithTheBatchLeftOut) {
  const auto inputs = ResolveUserModelInputs("m.onnx", kDescribed, {"ids:INT64:Nx24:0-1000"}, {1});
  ASSERT_EQ(inputs.size(), 2u);
  EXPECT_EQ(inputs[0].name, "ids");
  EXPECT_EQ(inputs[0].dtype, "int64");
  EXPECT_EQ(inputs[0].shape, (std::vector<std::int64_t>{24}));
  EXPECT_EQ(inputs[1].name, "mask");
  EXPECT_EQ(inputs[1].shape, (std::vector<std::int64_t>{16}));
}

TEST(UserModelInputs, EachDisagreementIsAUsageErrorNamingTheInput) {
  EXPECT_NE(ErrorOf({}).find("m.onnx: input 'ids' leaves dimension 1 open ('seq'); set it with "
                             "--input ids:INT64:NxSEQ"),
            std::string::npos)
      << ErrorOf({});
  EXPECT_NE(ErrorOf({"ids:INT64:Nx4", "image:FP32:Nx3"})
                .find("--input image: m.onnx has no input of that name (its inputs: ids, mask)"),
            std::string::npos);
  EXPECT_NE(ErrorOf({"ids:FP32:Nx4"}).find("--input ids: the model's input is int64, not float32"),
            std::string::npos);
  EXPECT_NE(ErrorOf({"ids:INT64:Nx4x2"}).find("--input ids: 3 dimensions, the model's input has 2"),
            std::string::npos);
  EXPECT_NE(ErrorOf({"ids:INT64:Nx4", "mask:FP32:Nx15"})
                .find("--input mask: dimension 1 is 16 in the model, not 15"),
            std::string::npos);
  const nlohmann::json fixed_batch = {
      {"inputs", {{{"name", "x"}, {"dtype", "float32"}, {"shape", {1, 4}}}}}};
  EXPECT_NE(ErrorOf({}, {1, 8}, fixed_batch)
                .find("m.onnx: input 'x' has a fixed batch dimension of 1; run it with "
                      "--batch-sizes 1"),
            std::string::npos);
  EXPECT_EQ(ErrorOf({}, {1}, fixed_batch), "");
  const nlohmann::json strings = {
      {"inputs", {{{"name", "s"}, {"dtype", "string"}, {"shape", {"batch"}}}}}};
  EXPECT_NE(ErrorOf({}, {1}, strings).find("input 's' is string, which fwbench cannot generate"),
            std::string::npos);
}

// A PyTorch module names its inputs (forward's parameters) and nothing else: the plan declares
// every one, with numbers for all but the batch.
TEST(UserModelInputs, AModulesInputsTakeTheirDtypeAndShapeFromThePlan) {
  const nlohmann::json module = {{"inputs",
                                  {{{"name", "ids"}, {"dtype", nullptr}, {"shape", nullptr}},
                                   {{"name", "mask"}, {"dtype", nullptr}, {"shape", nullptr}}}}};
  const auto inputs =
      ResolveUserModelInputs("m:build", module, {"mask:FP32:Nx16", "ids:INT64:Nx24:0-1000"}, {1});
  ASSERT_EQ(inputs.size(), 2u);
  EXPECT_EQ(inputs[0].name, "ids");
  EXPECT_EQ(inputs[0].dtype, "int64");
  EXPECT_EQ(inputs[0].shape, (std::vector<std::int64_t>{24}));
  EXPECT_EQ(inputs[1].dtype, "float32");
  EXPECT_EQ(inputs[1].shape, (std::vector<std::int64_t>{16}));
  try {
    ResolveUserModelInputs("m:build", module, {"ids:INT64:Nx24"}, {1});
    ADD_FAILURE() << "an undeclared input of a module was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "m:build: input 'mask' has no dtype or shape the model declares; describe it "
                  "with --input mask:DTYPE:DIMS"),
              std::string::npos)
        << e.what();
  }
  try {
    ResolveUserModelInputs("m:build", module, {"ids:INT64:NxN", "mask:FP32:Nx16"}, {1});
    ADD_FAILURE() << "an open dimension of a module's input was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--input ids: dimension 1 is N; only the first"),
              std::string::npos)
        << e.what();
  }
}

TEST(UserModelInputs, AMalformedDeclarationSaysWhatTheGrammarIs) {
  for (const char* bad : {"ids", "ids:INT64", "ids:INT8:Nx4", "ids:INT64:Nx0", "ids:INT64:Nxa",
                          "ids:INT64:Nx4:5-5", "ids:INT64:Nx4:x", ":FP32:N"}) {
    try {
      ParseInputDeclaration(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("--input '") + bad + "'"), std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("NAME:DTYPE:DIMS[:LO-HI]"), std::string::npos);
    }
  }
  const InputDeclaration d = ParseInputDeclaration("ids:INT64:Nx128:0-30522");
  EXPECT_EQ(d.dtype, "int64");
  EXPECT_EQ(d.dims, (std::vector<std::int64_t>{-1, 128}));
  EXPECT_EQ(d.low, 0.0);
  EXPECT_EQ(d.high, 30522.0);
}

TEST(UserModelInputs, RowsAreTheSameForTheSameSeedAndStayInTheDeclaredRange) {
  const auto dir = std::filesystem::temp_directory_path() / "fwbench_user_model_rows";
  std::filesystem::remove_all(dir);
  const std::vector<UserModelInput> inputs = {{"ids", "int64", {5}}, {"x", "float32", {2, 3}}};
  WriteUserModelRows(dir / "a.safetensors", inputs, {"ids:INT64:Nx5:10-20"}, 7, 40);
  WriteUserModelRows(dir / "b.safetensors", inputs, {"ids:INT64:Nx5:10-20"}, 7, 40);
  WriteUserModelRows(dir / "c.safetensors", inputs, {"ids:INT64:Nx5:10-20"}, 8, 40);
  const auto values = [&](const char* file, const char* name, auto zero) {
    const safetensors::File f = safetensors::File::Read(dir / file);
    const safetensors::TensorInfo* info = f.Find(name);
    std::vector<decltype(zero)> out;
    if (info == nullptr) return std::make_pair(std::vector<std::int64_t>{}, out);
    const std::span<const std::byte> bytes = f.Bytes(*info);
    out.resize(bytes.size() / sizeof zero);
    std::memcpy(out.data(), bytes.data(), bytes.size());
    return std::make_pair(info->shape, out);
  };
  const auto [ids_shape, ids] = values("a.safetensors", "ids", std::int64_t{});
  EXPECT_EQ(ids_shape, (std::vector<std::int64_t>{40, 5}));
  ASSERT_EQ(ids.size(), 200u);
  for (std::int64_t v : ids) {
    EXPECT_GE(v, 10);
    EXPECT_LT(v, 20);
  }
  EXPECT_EQ(ids, values("b.safetensors", "ids", std::int64_t{}).second);
  EXPECT_NE(ids, values("c.safetensors", "ids", std::int64_t{}).second);
  const auto [x_shape, x] = values("a.safetensors", "x", 0.0f);
  EXPECT_EQ(x_shape, (std::vector<std::int64_t>{40, 2, 3}));
  for (float v : x) {
    EXPECT_GE(v, -1.0f);
    EXPECT_LT(v, 1.0f);
  }
}

}  // namespace
}  // namespace fwbench::pipeline
