// A hostile but legitimate client against the server, over real sockets (issue 17): bodies
// nested far past any tensor, request smuggling through Transfer-Encoding, a huge JSON body
// decoding while health checks come in, and the small protocol mistakes.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "support/serve_fixture.h"

namespace fwbench::serve {
namespace {

using fwbench::testing::TestServer;
using Clock = std::chrono::steady_clock;

std::size_t Count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::string RawPost(const std::string& target, const std::string& body) {
  return fmt::format(
      "POST {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
      "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
      target, body.size(), body);
}

TEST(Hardening, JsonNestedPastTheBoundIsA400AndTheServerLives) {
  TestServer s;
  const std::string deep_list = std::string(30'000, '[') + "1" + std::string(30'000, ']');
  std::string deep_object;
  for (int i = 0; i < 300'000; ++i) deep_object += "{\"a\":";
  deep_object += "1" + std::string(300'000, '}');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/v2/models/double/infer",
       R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":)" + deep_list + "}]}"},
      {"/v2/models/double/infer",
       R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,)" + deep_object +
           "]}]}"},
      {"/v1/models/double:predict", R"({"instances":)" + deep_list + "}"},
      {"/predictions/double", deep_list},
  };
  for (const auto& [target, body] : cases) {
    const std::string answer = loadgen::SendRaw(s.url, RawPost(target, body));
    EXPECT_NE(answer.find("HTTP/1.1 400"), std::string::npos) << target << ": " << answer;
    EXPECT_NE(answer.find("more than 64 levels deep"), std::string::npos) << answer;
  }
  // Just inside the bound a ragged list is still parsed and explained, not refused for depth.
  const std::string deep_ok = std::string(40, '[') + "1" + std::string(40, ']');
  const auto r = s.Post("/v1/models/double:predict", R"({"instances":)" + deep_ok + "}");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body.find("levels deep"), std::string::npos) << r.body;
  EXPECT_EQ(s.Get("/v2/health/live").status, 200);
}

TEST(Hardening, TransferEncodingNotEndingInChunkedIsRefusedAndNothingIsSmuggled) {
  TestServer s;
  // Behind the first request's headers, a second request: were the first read with an empty
  // body, the second would be answered too (200 from /v2/health/live).
  const std::string smuggled = "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const std::string coding : {"gzip", "identity", "chunked, gzip", "gzip, identity"}) {
    const std::string answer =
        loadgen::SendRaw(s.url, fmt::format("POST /v2/models/double/infer HTTP/1.1\r\nHost: x\r\n"
                                            "Transfer-Encoding: {}\r\n\r\n{}",
                                            coding, smuggled));
    EXPECT_NE(answer.find("HTTP/1.1 400"), std::string::npos) << coding << ": " << answer;
    EXPECT_NE(answer.find("does not end in 'chunked'"), std::string::npos) << answer;
    EXPECT_EQ(Count(answer, "HTTP/1.1 "), 1u) << coding << ": " << answer;
    EXPECT_EQ(answer.find("\"live\""), std::string::npos) << coding << ": " << answer;
  }
  // Chunked as the last coding is the one framing the server reads, and it still works.
  const std::string body =
      R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]})";
  const std::string answer = loadgen::SendRaw(
      s.url, fmt::format("POST /v2/models/double/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\n",
                         body.size(), body));
  EXPECT_NE(answer.find("HTTP/1.1 200"), std::string::npos) << answer;
}

TEST(Hardening, Http11WithoutExactlyOneHostIsRefused) {
  TestServer s;
  std::string answer = loadgen::SendRaw(s.url, "GET /v2/health/live HTTP/1.1\r\n\r\n");
  EXPECT_NE(answer.find("HTTP/1.1 400"), std::string::npos) << answer;
  EXPECT_NE(answer.find("needs a Host header"), std::string::npos) << answer;
  answer = loadgen::SendRaw(s.url, "GET /v2/health/live HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  EXPECT_NE(answer.find("more than one Host header"), std::string::npos) << answer;
  // HTTP/1.0 has no Host requirement.
  answer = loadgen::SendRaw(s.url, "GET /v2/health/live HTTP/1.0\r\n\r\n");
  EXPECT_NE(answer.find(" 200 "), std::string::npos) << answer;
}

// A connected, blocking loopback socket; -1 on failure.
int Connect(const loadgen::Url& url) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(std::stoi(url.port)));
  inet_pton(AF_INET, url.host.c_str(), &to.sin_addr);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& bytes) {
  for (std::size_t sent = 0; sent < bytes.size();) {
    const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

bool AnswerArrived(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

TEST(Hardening, HealthAnswersWhileTwoHugeJsonBodiesDecode) {
  TestServer s;
  // ~60 MB of numbers each: seconds of JSON decoding. The shape says 1 row, so each ends in a
  // short 400 once decoded (no 60 MB answer to read back).
  std::string data;
  data.reserve(60u << 20);
  while (data.size() < (60u << 20) - 64) data += "1.25,";
  data += "1";
  const std::string body =
      R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[)" + data + "]}]}";
  const std::string request = RawPost("/v2/models/double/infer", body);
  std::vector<int> big;
  for (int i = 0; i < 2; ++i) {
    const int fd = Connect(s.url);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, request));
    big.push_back(fd);
  }
  // Health checks one after the other until both answers have come: some while the bodies
  // still arrive, most while they decode (seconds), a few after.
  std::vector<double> probe_ms;
  const auto give_up = Clock::now() + std::chrono::seconds(60);
  while (!(AnswerArrived(big[0]) && AnswerArrived(big[1])) && Clock::now() < give_up) {
    const auto t0 = Clock::now();
    const auto r = s.Get("/v2/health/live");
    probe_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    ASSERT_EQ(r.status, 200) << r.error;
  }
  const double slowest = *std::max_element(probe_ms.begin(), probe_ms.end());
  std::sort(probe_ms.begin(), probe_ms.end());
  std::cout << fmt::format(
      "{} health probes while two 60 MB bodies arrived and decoded: median {:.2f} ms, p99 {:.2f} "
      "ms, slowest {:.2f} ms\n",
      probe_ms.size(), probe_ms[probe_ms.size() / 2], probe_ms[probe_ms.size() * 99 / 100],
      slowest);
  // Decoded on the HTTP threads, the probe that came during the decode waited for all of it
  // (4.5 s for two such bodies in issue 17; 1.5 s here before the fix, 8-12 ms after). A
  // shared 2-core machine may delay a rare probe past 50 ms, never one by a whole decode.
  const auto over_50ms =
      std::count_if(probe_ms.begin(), probe_ms.end(), [](double ms) { return ms >= 50.0; });
  EXPECT_LE(static_cast<std::size_t>(over_50ms), std::max<std::size_t>(1, probe_ms.size() / 1000))
      << "health checks waited for a decode";
  EXPECT_LT(slowest, 250.0) << "a health check waited for a decode";
  EXPECT_GT(probe_ms.size(), 10u) << "the decode was too short to probe during it";
  for (const int fd : big) {
    std::string answer(4096, '\0');
    pollfd p{fd, POLLIN, 0};
    ASSERT_GT(poll(&p, 1, 60'000), 0) << "no answer to a 60 MB body within 60 s";
    const ssize_t n = recv(fd, answer.data(), answer.size(), 0);
    answer.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    EXPECT_NE(answer.find("HTTP/1.1 400"), std::string::npos) << answer.substr(0, 300);
    EXPECT_NE(answer.find("\\\"data\\\" has"), std::string::npos) << answer.substr(0, 300);
    close(fd);
  }
}

TEST(Hardening, SmallProtocolMistakesAreRefusedWithTheirReason) {
  TestServer s;
  // A negative binary header length was read as 2^64 - 5.
  auto r = s.Post("/v2/models/double/infer", "{}", {{"Inference-Header-Content-Length", "-5"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("must be a byte count, got '-5'"), std::string::npos) << r.body;
  // FP32 beyond its range became Inf, answered as null with a 200.
  r = s.Post("/v2/models/double/infer",
             R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,1e39,4]}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("outside FP32's range"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("element 2"), std::string::npos) << r.body;
  // The same input twice was accepted.
  r = s.Post("/v2/models/double/infer",
             R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]},)"
             R"({"name":"x","shape":[1,4],"datatype":"FP32","data":[5,6,7,8]}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("input 'x' is given twice"), std::string::npos) << r.body;
}

TEST(Hardening, TheBearerSchemeIsCaseInsensitive) {
  serve::ServiceOptions options;
  options.bearer_token = "s3cret";
  TestServer s(fwbench::testing::DoublingConfig(), {}, options);
  const std::string body =
      R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]})";
  for (const std::string scheme : {"Bearer", "bearer", "BEARER"}) {
    EXPECT_EQ(
        s.Post("/v2/models/double/infer", body, {{"Authorization", scheme + " s3cret"}}).status,
        200)
        << scheme;
  }
  EXPECT_EQ(s.Post("/v2/models/double/infer", body, {{"Authorization", "Basic s3cret"}}).status,
            401);
  EXPECT_EQ(s.Post("/v2/models/double/infer", body, {{"Authorization", "bearer"}}).status, 401);
  EXPECT_EQ(s.Post("/v2/models/double/infer", body, {{"Authorization", "bearer s3cre"}}).status,
            401);
}

}  // namespace
}  // namespace fwbench::serve
