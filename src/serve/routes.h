#pragma once
// Which endpoint a request is for (issue 7): the URL paths of the three protocols the server
// speaks, matched without regular expressions, with the method each allows.
//   KServe v2:   GET /v2/health/live, /v2/health/ready, /v2, /v2/models/M[/versions/V],
//                /v2/models/M[/versions/V]/ready; POST /v2/models/M[/versions/V]/infer
//   TF Serving:  GET /v1/models/M[/versions/N], /v1/models/M[/versions/N]/metadata;
//                POST /v1/models/M[/versions/N]:predict
//   TorchServe:  GET /ping; POST /predictions/M[/V]
//   GET /metrics (Prometheus)
#include <string>
#include <string_view>

namespace fwbench::serve {

enum class Endpoint {
  kLive,
  kReady,
  kServerMetadata,
  kModelMetadata,
  kModelReady,
  kKserveInfer,
  kTfModelStatus,
  kTfModelMetadata,
  kTfPredict,
  kTorchServePing,
  kTorchServePredict,
  kMetrics,
};

struct Route {
  Endpoint endpoint = Endpoint::kLive;
  std::string model;    // empty for server-wide endpoints
  std::string version;  // empty: the model's latest
};

// A model name or version the paths can carry: letters, digits, '-', '_', '.'; 1 to 128
// characters. The model repository refuses folders named otherwise (no request could reach them).
bool IsRoutableName(std::string_view name);

// Throws RequestError: 404 for a path no protocol has (naming the paths that exist), 405 for a
// known path with the wrong method (naming the allowed one), 400 for a malformed model name or
// version (TF Serving versions are integers). The query string is ignored.
Route MatchRoute(std::string_view method, std::string_view target);

}  // namespace fwbench::serve
