#include "serve/responses.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

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
