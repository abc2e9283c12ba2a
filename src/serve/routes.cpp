#include "serve/routes.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "serve/infer_request.h"

namespace fwbench::serve {

namespace {

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    const auto slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

void CheckName(std::string_view name, const char* what) {
  if (!IsRoutableName(name)) {
    throw RequestError(400, fmt::format("{} '{}' is not valid (letters, digits, '-', '_', '.'; "
                                        "at most 128 characters)",
                                        what, name.substr(0, 128)));
  }
}

Route Expect(std::string_view method, const char* allowed, Route route) {
  if (method != allowed) {
    throw RequestError(
        405, fmt::format("method {} is not allowed here; use {}", method.substr(0, 16), allowed));
  }
  return route;
}

[[noreturn]] void NotFound(std::string_view path) {
  throw RequestError(
      404, fmt::format("no endpoint at '{}': this server has /v2/health/live, /v2/health/ready, "
                       "/v2/models/NAME[/versions/V][/ready|/infer], "
                       "/v1/models/NAME[/versions/N][/metadata|:predict], /ping, "
                       "/predictions/NAME[/VERSION] and /metrics",
                       path.substr(0, 200)));
}

Route KServe(std::string_view method, const std::vector<std::string_view>& p,
             std::string_view path) {
  // p[0] == "v2"
  if (p.size() == 1) return Expect(method, "GET", {Endpoint::kServerMetadata, "", ""});
  if (p.size() == 3 && p[1] == "health") {
    if (p[2] == "live") return Expect(method, "GET", {Endpoint::kLive, "", ""});
    if (p[2] == "ready") return Expect(method, "GET", {Endpoint::kReady, "", ""});
  }
  if (p.size() >= 3 && p[1] == "models") {
    Route r{Endpoint::kModelMetadata, std::string(p[2]), ""};
    CheckName(p[2], "model name");
    std::size_t next = 3;
    if (p.size() >= 5 && p[3] == "versions") {
      CheckName(p[4], "model version");
      r.version = std::string(p[4]);
      next = 5;
    }
    if (p.size() == next) return Expect(method, "GET", r);
    if (p.size() == next + 1 && p[next] == "ready") {
      r.endpoint = Endpoint::kModelReady;
      return Expect(method, "GET", r);
    }
    if (p.size() == next + 1 && p[next] == "infer") {
      r.endpoint = Endpoint::kKserveInfer;
      return Expect(method, "POST", r);
    }
  }
  NotFound(path);
}

Route TfServing(std::string_view method, std::vector<std::string_view> p, std::string_view path) {
  // p[0] == "v1", p[1] == "models"
  if (p.size() < 3) NotFound(path);
  // ":predict" is glued to the last segment.
  bool predict = false;
  std::string_view& last = p.back();
  if (const auto colon = last.find(':'); colon != std::string_view::npos) {
    if (last.substr(colon) != ":predict") {
      throw RequestError(404, fmt::format("'{}' is not a TF Serving method here (only :predict)",
                                          last.substr(colon, 32)));
    }
    predict = true;
    last = last.substr(0, colon);
  }
  Route r{Endpoint::kTfModelStatus, std::string(p[2]), ""};
  CheckName(p[2], "model name");
  std::size_t next = 3;
  if (p.size() >= 5 && p[3] == "versions") {
    const bool digits =
        !p[4].empty() && p[4].size() <= 18 &&
        std::all_of(p[4].begin(), p[4].end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits) {
      throw RequestError(
          400, fmt::format("TF Serving model versions are integers, not '{}'", p[4].substr(0, 32)));
    }
    r.version = std::string(p[4]);
    next = 5;
  }
  if (p.size() == next) {
    if (predict) {
      r.endpoint = Endpoint::kTfPredict;
      return Expect(method, "POST", r);
    }
    return Expect(method, "GET", r);
  }
  if (!predict && p.size() == next + 1 && p[next] == "metadata") {
    r.endpoint = Endpoint::kTfModelMetadata;
    return Expect(method, "GET", r);
  }
  NotFound(path);
}

}  // namespace

bool IsRoutableName(std::string_view name) {
  return !name.empty() && name.size() <= 128 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

Route MatchRoute(std::string_view method, std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path.empty() || path.front() != '/') NotFound(path);
  const std::vector<std::string_view> p = Split(path.substr(1));
  if (p.empty() || p[0].empty()) NotFound(path);
  if (p[0] == "v2") return KServe(method, p, path);
  if (p[0] == "v1" && p.size() >= 2 && p[1] == "models") return TfServing(method, p, path);
  if (p.size() == 1 && p[0] == "ping")
    return Expect(method, "GET", {Endpoint::kTorchServePing, "", ""});
  if (p.size() == 1 && p[0] == "metrics")
    return Expect(method, "GET", {Endpoint::kMetrics, "", ""});
  if ((p.size() == 2 || p.size() == 3) && p[0] == "predictions") {
    CheckName(p[1], "model name");
    Route r{Endpoint::kTorchServePredict, std::string(p[1]), ""};
    if (p.size() == 3) {
      CheckName(p[2], "model version");
      r.version = std::string(p[2]);
    }
    return Expect(method, "POST", r);
  }
  NotFound(path);
}

}  // namespace fwbench::serve
