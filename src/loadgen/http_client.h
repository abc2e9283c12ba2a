#pragma once
// A plain blocking HTTP/1.1 client for the few requests around a load test (a model's metadata,
// readiness polls, a first prediction) and for tests. The load itself goes through load_runner.
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace fwbench::loadgen {

struct Url {
  std::string host;
  std::string port = "80";
  std::string target = "/";  // path and query
};

// "http://host[:port][/path]"; throws UsageError naming the URL otherwise (https is not spoken).
Url ParseUrl(const std::string& url);

struct HttpCall {
  std::string method = "GET";
  std::string target = "/";
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

struct HttpResult {
  int status = 0;  // 0: no response (see error)
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string error;                                         // transport failure, in words
  std::string Header(const std::string& lower_name) const;
};

// One request on a fresh connection. Never throws for network trouble: a refused connection, a
// timeout or a broken response comes back in `error`.
HttpResult Fetch(const Url& server, const HttpCall& call,
                 std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000));

// Sends raw bytes and returns whatever the server answers before closing or the timeout (for
// tests of malformed requests).
std::string SendRaw(const Url& server, const std::string& bytes,
                    std::chrono::milliseconds timeout = std::chrono::milliseconds(5'000));

}  // namespace fwbench::loadgen
