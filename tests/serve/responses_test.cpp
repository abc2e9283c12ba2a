#include "serve/responses.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace fwbench::serve {
namespace {

using nlohmann::json;

const OutputTensor kLogits{"logits", {2, 3}, {1, 2, 3, 4, 5, 6}};

TEST(Responses, EachProtocolGetsItsOwnShapeOfPredictions) {
  const json k = json::parse(KserveV2Response("resnet", "3", "req-1", {kLogits}));
  EXPECT_EQ(k["model_name"], "resnet");
  EXPECT_EQ(k["model_version"], "3");
  EXPECT_EQ(k["id"], "req-1");
  EXPECT_EQ(k["outputs"][0]["shape"], json({2, 3}));
  EXPECT_EQ(k["outputs"][0]["datatype"], "FP32");
  EXPECT_EQ(k["outputs"][0]["data"].size(), 6u) << "flat, row-major";

  EXPECT_EQ(json::parse(TfServingResponse({kLogits})),
            json::parse(R"({"predictions": [[1, 2, 3], [4, 5, 6]]})"));
  const OutputTensor probs{"probs", {2}, {0.25f, 0.75f}};
  EXPECT_EQ(json::parse(TfServingResponse({kLogits, probs})),
            json::parse(R"({"predictions": [{"logits": [1, 2, 3], "probs": 0.25},
                                            {"logits": [4, 5, 6], "probs": 0.75}]})"));
  EXPECT_EQ(json::parse(TorchServeResponse({kLogits})), json::parse("[[1, 2, 3], [4, 5, 6]]"));
  EXPECT_THROW(TfServingResponse({kLogits, {"x", {3}, {1, 2, 3}}}), std::invalid_argument);
  EXPECT_THROW(TfServingResponse({{"x", {2, 2}, {1}}}), std::invalid_argument);
}

// Answers are written without a JSON tree (issue 22): every float reads back as itself, a whole
// value still reads as a float, what JSON cannot carry is null, names are escaped, and the binary
// answer's header describes the tensors that follow it.
TEST(Responses, ValuesAreWrittenExactlyAndNamesEscaped) {
  const std::vector<float> values = {0.1f, 1.f / 3, -0.f, 1e-45f, 3.4028235e38f, 16777217.f, 2.f};
  OutputTensor t{"out \"x\"\n", {1, 7}, {}};
  t.fp32.assign(values.begin(), values.end());
  const std::string text = KserveV2Response("m\\", "1", "id\t", {t});
  const json k = json::parse(text);
  EXPECT_EQ(k["model_name"], "m\\");
  EXPECT_EQ(k["id"], "id\t");
  EXPECT_EQ(k["outputs"][0]["name"], "out \"x\"\n");
  ASSERT_EQ(k["outputs"][0]["data"].size(), values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_TRUE(k["outputs"][0]["data"][i].is_number_float()) << i << ": " << text;
    EXPECT_EQ(static_cast<float>(k["outputs"][0]["data"][i].get<double>()), values[i]) << i;
  }
  EXPECT_NE(text.find("2.0]"), std::string::npos) << text;

  const OutputTensor odd{"y", {1, 3}, {std::nanf(""), -INFINITY, 0.5f}};
  EXPECT_EQ(json::parse(TorchServeResponse({odd})), json::parse("[[null, null, 0.5]]"));
  EXPECT_EQ(json::parse(KserveV2Response("m", "", "", {odd}))["outputs"][0]["data"],
            json::parse("[null, null, 0.5]"));

  const std::vector<OutputTensor> outputs = {kLogits, odd};
  const BinaryBody b = KserveV2BinaryResponse("m", "2", "", outputs);
  const json header = json::parse(b.json);
  EXPECT_EQ(header["model_version"], "2");
  EXPECT_FALSE(header.contains("id"));
  EXPECT_EQ(header["outputs"][1]["name"], "y");
  EXPECT_EQ(header["outputs"][1]["shape"], json({1, 3}));
  EXPECT_EQ(header["outputs"][0]["parameters"]["binary_data_size"], 24);
  ASSERT_EQ(b.tensors.size(), 2u);
  EXPECT_EQ(static_cast<const void*>(b.tensors[0].data()),
            static_cast<const void*>(outputs[0].fp32.data()));
  EXPECT_EQ(b.tensors[1].size(), 12u);
}

TEST(Responses, ErrorsAreInEachProtocolsFormat) {
  EXPECT_EQ(json::parse(ErrorBody(Protocol::kKserveV2, 400, "bad shape")),
            json({{"error", "bad shape"}}));
  EXPECT_EQ(json::parse(ErrorBody(Protocol::kTfServing, 404, "no model")),
            json({{"error", "no model"}}));
  const json t = json::parse(ErrorBody(Protocol::kTorchServe, 503, "queue full"));
  EXPECT_EQ(t["code"], 503);
  EXPECT_EQ(t["type"], "ServiceUnavailableException");
  EXPECT_EQ(t["message"], "queue full");
  EXPECT_EQ(json::parse(ErrorBody(Protocol::kTorchServe, 400, "x"))["type"], "BadRequestException");
}

}  // namespace
}  // namespace fwbench::serve
