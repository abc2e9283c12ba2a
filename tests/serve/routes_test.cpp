#include "serve/routes.h"

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <utility>

#include "serve/infer_request.h"

namespace fwbench::serve {
namespace {

std::pair<int, std::string> Refusal(std::string_view method, std::string_view target) {
  try {
    MatchRoute(method, target);
  } catch (const RequestError& e) {
    return {e.status(), e.what()};
  }
  return {0, "(matched)"};
}

TEST(Routes, EveryProtocolsPathsMatchWithModelAndVersion) {
  EXPECT_EQ(MatchRoute("GET", "/v2/health/live").endpoint, Endpoint::kLive);
  EXPECT_EQ(MatchRoute("GET", "/v2/health/ready").endpoint, Endpoint::kReady);
  EXPECT_EQ(MatchRoute("GET", "/v2").endpoint, Endpoint::kServerMetadata);
  Route r = MatchRoute("POST", "/v2/models/resnet/versions/3/infer?x=1");
  EXPECT_EQ(r.endpoint, Endpoint::kKserveInfer);
  EXPECT_EQ(r.model, "resnet");
  EXPECT_EQ(r.version, "3");
  r = MatchRoute("GET", "/v2/models/resnet/ready");
  EXPECT_EQ(r.endpoint, Endpoint::kModelReady);
  EXPECT_EQ(r.version, "");
  EXPECT_EQ(MatchRoute("GET", "/v2/models/resnet").endpoint, Endpoint::kModelMetadata);

  r = MatchRoute("POST", "/v1/models/resnet/versions/2:predict");
  EXPECT_EQ(r.endpoint, Endpoint::kTfPredict);
  EXPECT_EQ(r.version, "2");
  EXPECT_EQ(MatchRoute("POST", "/v1/models/resnet:predict").endpoint, Endpoint::kTfPredict);
  EXPECT_EQ(MatchRoute("GET", "/v1/models/resnet").endpoint, Endpoint::kTfModelStatus);
  EXPECT_EQ(MatchRoute("GET", "/v1/models/resnet/metadata").endpoint, Endpoint::kTfModelMetadata);

  EXPECT_EQ(MatchRoute("GET", "/ping").endpoint, Endpoint::kTorchServePing);
  r = MatchRoute("POST", "/predictions/resnet/1.0");
  EXPECT_EQ(r.endpoint, Endpoint::kTorchServePredict);
  EXPECT_EQ(r.version, "1.0");
  EXPECT_EQ(MatchRoute("GET", "/metrics").endpoint, Endpoint::kMetrics);
}

TEST(Routes, WrongPathsMethodsNamesAndVersionsGetTheRightStatusAndSaySo) {
  auto [status, message] = Refusal("GET", "/v3/models");
  EXPECT_EQ(status, 404);
  EXPECT_NE(message.find("/v2/models/NAME"), std::string::npos) << message;
  std::tie(status, message) = Refusal("GET", "/v2/models/resnet/infer");
  EXPECT_EQ(status, 405);
  EXPECT_NE(message.find("method GET is not allowed here; use POST"), std::string::npos);
  std::tie(status, message) = Refusal("POST", "/v1/models/resnet/versions/latest:predict");
  EXPECT_EQ(status, 400);
  EXPECT_NE(message.find("versions are integers, not 'latest'"), std::string::npos) << message;
  std::tie(status, message) = Refusal("POST", "/v1/models/resnet:classify");
  EXPECT_EQ(status, 404);
  std::tie(status, message) = Refusal("POST", "/predictions/..%2F/x/y");
  EXPECT_EQ(status, 404) << message;
  std::tie(status, message) = Refusal("POST", "/predictions/bad$name");
  EXPECT_EQ(status, 400);
  EXPECT_NE(message.find("model name 'bad$name' is not valid"), std::string::npos) << message;
  std::tie(status, message) = Refusal("GET", "");
  EXPECT_EQ(status, 404);
  std::tie(status, message) = Refusal("GET", "/");
  EXPECT_EQ(status, 404);
  std::tie(status, message) = Refusal("GET", "/v2/models//ready");
  EXPECT_EQ(status, 400);
}

}  // namespace
}  // namespace fwbench::serve
