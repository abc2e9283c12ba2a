// The server end to end over real sockets: every protocol, every malformed-input case of issue 7
// with its status and message, the batcher's refusals, readiness, auth and graceful shutdown.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "support/serve_fixture.h"

namespace fwbench::serve {
namespace {

using fwbench::testing::TestServer;
using nlohmann::json;

const std::string kGood =
    R"({"id":"r1","inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[1,2,3,4,5,6,7,8]}]})";

TEST(Server, AnswersEveryProtocol) {
  TestServer s;
  auto r = s.Post("/v2/models/double/infer", kGood);
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  json j = json::parse(r.body);
  EXPECT_EQ(j["id"], "r1");
  EXPECT_EQ(j["model_version"], "2");  // the latest
  EXPECT_EQ(j["outputs"][0]["shape"], json({2, 4}));
  EXPECT_EQ(j["outputs"][0]["data"][7], 16.0);

  r = s.Post("/v2/models/double/versions/1/infer", kGood);
  EXPECT_EQ(json::parse(r.body)["model_version"], "1");

  r = s.Post("/v1/models/double:predict", R"({"instances":[[1,2,3,4]]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"predictions":[[2.0,4.0,6.0,8.0]]})"));
  r = s.Post("/v1/models/double/versions/1:predict", R"({"inputs":[[1,1,1,1],[0,0,0,0]]})");
  EXPECT_EQ(json::parse(r.body)["predictions"][1], json({0.0, 0.0, 0.0, 0.0}));

  r = s.Post("/predictions/double", "[[0.5,0,0,1]]");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body), json::parse("[[1.0,0.0,0.0,2.0]]"));

  EXPECT_EQ(s.Get("/v2/health/live").status, 200);
  EXPECT_EQ(s.Get("/v2/health/ready").status, 200);
  EXPECT_EQ(s.Get("/ping").status, 200);
  j = json::parse(s.Get("/v2/models/double").body);
  EXPECT_EQ(j["versions"], json({"1", "2"}));
  EXPECT_EQ(j["inputs"][0]["shape"], json({-1, 4}));
  j = json::parse(s.Get("/v1/models/double").body);
  EXPECT_EQ(j["model_version_status"].size(), 2u);
  EXPECT_EQ(j["model_version_status"][0]["state"], "AVAILABLE");
  j = json::parse(s.Get("/v1/models/double/metadata").body);
  EXPECT_EQ(
      j["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]["x"]["dtype"],
      "DT_FLOAT");
  const auto metrics = s.Get("/metrics");  // 2 infers + 1 metadata over KServe
  EXPECT_NE(metrics.body.find(
                R"(fwbench_requests_total{model="double",protocol="kserve_v2",code="200"} 3)"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("fwbench_batch_size_bucket"), std::string::npos);
  // Each accepted infer's decode and each answered one's encode are timed, per model.
  const auto count = [&](const std::string& family) {
    const std::string key = family + "_count{model=\"double\"} ";
    const auto at = metrics.body.find(key);
    return at == std::string::npos ? -1 : std::stoll(metrics.body.substr(at + key.size()));
  };
  EXPECT_GE(count("fwbench_decode_seconds"), 4) << metrics.body;
  EXPECT_EQ(count("fwbench_encode_seconds"), count("fwbench_decode_seconds")) << metrics.body;
}

TEST(Server, BinaryTensorExtensionRoundTrips) {
  TestServer s;
  const std::vector<float> x = {1.5f, -2, 3, 4};
  std::string header =
      R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}],"parameters":{"binary_data_output":true}})";
  std::string body = header + std::string(reinterpret_cast<const char*>(x.data()), 16);
  const auto r = s.Post("/v2/models/double/infer", body,
                        {{"Inference-Header-Content-Length", std::to_string(header.size())}});
  ASSERT_EQ(r.status, 200) << r.body;
  const std::size_t json_length = std::stoul(r.Header("inference-header-content-length"));
  const json j = json::parse(r.body.substr(0, json_length));
  EXPECT_EQ(j["outputs"][0]["parameters"]["binary_data_size"], 16);
  ASSERT_EQ(r.body.size(), json_length + 16);
  std::vector<float> y(4);
  std::memcpy(y.data(), r.body.data() + json_length, 16);
  EXPECT_EQ(y, (std::vector<float>{3, -4, 6, 8}));
  {
    std::lock_guard lock(s.model->mutex);
    EXPECT_EQ(s.model->viewed, std::vector<bool>{true}) << "the tensor was copied out of the body";
  }
  // A binary size that does not match the shape is a 400 that says both.
  const std::string bad_header =
      R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":12}}]})";
  const auto bad = s.Post("/v2/models/double/infer", bad_header + std::string(12, '\0'),
                          {{"Inference-Header-Content-Length", std::to_string(bad_header.size())}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("needs 16 bytes, binary_data_size is 12"), std::string::npos) << bad.body;
}

struct Case {
  const char* what;
  std::string method, target, body;
  int status;
  const char* message;  // a part of the error
};

TEST(Server, EveryMalformedRequestGetsItsStatusAndSaysWhatIsExpected) {
  TestServer s;
  const std::vector<Case> cases = {
      {"malformed JSON", "POST", "/v2/models/double/infer", "{\"inputs\": [", 400,
       "not valid JSON"},
      {"wrong shape", "POST", "/v2/models/double/infer",
       R"({"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]})", 400,
       "expects [-1, 4]"},
      {"wrong dtype", "POST", "/v2/models/double/infer",
       R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"INT64","data":[1,2,3,4]}]})", 400,
       "model 'double' expects FP32"},
      {"data vs shape", "POST", "/v2/models/double/infer",
       R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2]}]})", 400,
       "holds 4 values"},
      {"unknown input", "POST", "/v1/models/double:predict", R"({"inputs":{"z":[[1,2,3,4]]}})", 400,
       "unknown input 'z'"},
      {"strings for numbers", "POST", "/v1/models/double:predict",
       R"({"instances":[["a","b","c","d"]]})", 400, "needs numbers"},
      {"unknown model", "POST", "/v2/models/nope/infer", kGood, 404,
       "model 'nope' is not served here; models: double"},
      {"unknown version", "POST", "/v2/models/double/versions/7/infer", kGood, 404,
       "has no version '7'; versions: 1, 2"},
      {"unknown TF version", "GET", "/v1/models/double/versions/9", "", 404, "no version '9'"},
      {"unknown path", "GET", "/v3/anything", "", 404, "no endpoint at '/v3/anything'"},
      {"wrong method", "GET", "/v2/models/double/infer", "", 405, "use POST"},
      {"TorchServe unknown model", "POST", "/predictions/nope", "[[1,2,3,4]]", 404,
       "ModelNotFoundException"},
  };
  for (const auto& c : cases) {
    const auto r = loadgen::Fetch(s.url, {c.method, c.target, c.body, "application/json", {}});
    EXPECT_EQ(r.status, c.status) << c.what << ": " << r.body;
    EXPECT_NE(r.body.find(c.message), std::string::npos) << c.what << ": " << r.body;
  }
  // The server is still fine after all of that.
  EXPECT_EQ(s.Post("/v2/models/double/infer", kGood).status, 200);
}

TEST(Server, TransportLimitsAnswer413431And400AndCloseSlowClientsWith408) {
  serve::HttpServerOptions http;
  http.max_body_bytes = 1000;
  http.max_header_bytes = 2000;
  http.read_timeout = std::chrono::milliseconds(300);
  TestServer s(fwbench::testing::DoublingConfig(), http);
  auto r = s.Post("/v2/models/double/infer", std::string(5000, ' '));
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("limit of 1000 bytes"), std::string::npos) << r.body;
  r = loadgen::Fetch(s.url,
                     {"GET", "/v2/health/live", "", "", {{"X-Big", std::string(4000, 'a')}}});
  EXPECT_EQ(r.status, 431) << r.body << r.error;

  // A client that sends its whole over-limit body before reading still gets the 413 (the
  // server reads and drops the rest instead of resetting the connection under it).
  const std::string big(8u << 20, ' ');
  std::string answer = loadgen::SendRaw(
      s.url,
      fmt::format(
          "POST /v2/models/double/infer HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{}",
          big.size(), big),
      std::chrono::milliseconds(5000));
  EXPECT_NE(answer.find("HTTP/1.1 413"), std::string::npos) << answer.substr(0, 200);

  answer = loadgen::SendRaw(s.url, "HELLO THERE\r\n\r\n");
  EXPECT_NE(answer.find("HTTP/1.1 400"), std::string::npos) << answer;
  EXPECT_NE(answer.find("malformed HTTP request"), std::string::npos) << answer;
  answer =
      loadgen::SendRaw(s.url, "POST /v2/models/double/infer HTTP/1.1\r\nContent-Length: x\r\n\r\n");
  EXPECT_NE(answer.find("HTTP/1.1 400"), std::string::npos) << answer;

  // Slowloris: half a request, then silence. The server answers 408 and closes.
  const auto t0 = std::chrono::steady_clock::now();
  answer = loadgen::SendRaw(s.url, "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n",
                            std::chrono::milliseconds(3000));
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_NE(answer.find("HTTP/1.1 408"), std::string::npos) << answer;
  EXPECT_LT(waited, std::chrono::milliseconds(2500));
  // A client that connects and sends nothing is closed without an answer.
  answer = loadgen::SendRaw(s.url, "", std::chrono::milliseconds(3000));
  EXPECT_EQ(answer, "");
  EXPECT_EQ(s.Get("/v2/health/live").status, 200);
}

TEST(Server, FullQueueIsRefusedAtOnceTimeoutIs504AndAFailingModelOnlyFailsItsBatch) {
  auto config = fwbench::testing::DoublingConfig();
  config.batching.max_batch_size = 1;
  config.batching.max_queue = 2;
  config.batching.request_timeout_ns = 1'500'000'000;
  TestServer s(config);
  s.model->delay_ms = 1000;  // long enough that all eight arrive while the first runs
  std::vector<std::future<loadgen::HttpResult>> calls;
  // The first one alone, so that it is running (not queued) when the other seven arrive.
  calls.push_back(
      std::async(std::launch::async, [&] { return s.Post("/v2/models/double/infer", kGood); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (int i = 0; i < 7; ++i) {
    calls.push_back(
        std::async(std::launch::async, [&] { return s.Post("/v2/models/double/infer", kGood); }));
  }
  std::map<int, int> by_status;
  std::string overload_message;
  for (auto& c : calls) {
    const auto r = c.get();
    ++by_status[r.status];
    if (r.status == 503) overload_message = r.body;
  }
  // One running, two queued (the queue bound), five refused at once; the second queued one
  // waits 2 s > 1.5 s and times out.
  EXPECT_EQ(by_status[200], 2);
  EXPECT_EQ(by_status[503], 5);
  EXPECT_EQ(by_status[504], 1);
  EXPECT_NE(overload_message.find("is overloaded"), std::string::npos) << overload_message;

  s.model->delay_ms = 0;
  s.model->fail = true;
  auto r = s.Post("/v2/models/double/infer", kGood);
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("planted failure"), std::string::npos) << r.body;
  s.model->fail = false;
  EXPECT_EQ(s.Post("/v2/models/double/infer", kGood).status, 200);
}

TEST(Server, ConcurrentRequestsShareBatches) {
  auto config = fwbench::testing::DoublingConfig();
  config.batching.max_batch_size = 8;
  config.batching.max_queue_delay_ns = 100'000'000;  // 100 ms: all four arrive within it
  TestServer s(config);
  std::vector<std::future<loadgen::HttpResult>> calls;
  for (int i = 0; i < 4; ++i) {
    calls.push_back(
        std::async(std::launch::async, [&] { return s.Post("/v2/models/double/infer", kGood); }));
  }
  for (auto& c : calls) {
    const auto r = c.get();
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["outputs"][0]["data"][0], 2.0);  // each its own rows back
  }
  std::lock_guard lock(s.model->mutex);
  std::size_t largest = 0;
  for (const auto b : s.model->batches) largest = std::max(largest, b);
  EXPECT_GE(largest, 2u);
}

TEST(Server, NotReadyBeforeWarmUpAndBearerTokenGuardsAllButHealth) {
  serve::ServiceOptions options;
  options.bearer_token = "s3cret";
  TestServer s(fwbench::testing::DoublingConfig(), {}, options, /*ready=*/false);
  EXPECT_EQ(s.Get("/v2/health/ready").status, 503);
  EXPECT_EQ(s.Get("/ping").status, 503);
  const std::vector<std::pair<std::string, std::string>> auth = {
      {"Authorization", "Bearer s3cret"}};
  auto r = s.Post("/v2/models/double/infer", kGood, auth);
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("warming up"), std::string::npos);
  s.service->WarmUpAndMarkReady();
  EXPECT_EQ(s.Get("/v2/health/ready").status, 200);
  r = s.Post("/v2/models/double/infer", kGood);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.Header("www-authenticate"), "Bearer");
  EXPECT_NE(r.body.find("Authorization: Bearer"), std::string::npos);
  r = s.Post("/v2/models/double/infer", kGood, {{"Authorization", "Bearer wrong"}});
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("not valid"), std::string::npos);
  EXPECT_EQ(s.Get("/metrics").status, 401);
  EXPECT_EQ(s.Post("/v2/models/double/infer", kGood, auth).status, 200);
}

TEST(Server, ShutdownDrainsInFlightRequests) {
  auto s = std::make_unique<TestServer>();
  s->model->delay_ms = 300;
  auto call =
      std::async(std::launch::async, [&] { return s->Post("/v2/models/double/infer", kGood); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(s->server->in_flight(), 1u);
  const std::size_t left = s->server->Shutdown(std::chrono::milliseconds(3000));
  EXPECT_EQ(left, 0u);
  const auto r = call.get();
  EXPECT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_EQ(r.Header("connection"), "close");
  // After the drain nothing is accepted.
  EXPECT_EQ(s->Get("/v2/health/live").status, 0);
}

// Issue 22: the transport places every body so that what follows its JSON header starts
// aligned for any tensor, whatever the header's length (Content-Length or chunked), and sends a
// response's tail as it lies.
TEST(Server, BinaryPartsArriveAlignedAndResponseTailsAreSentAsTheyLie) {
  HttpServerOptions http;
  http.port = 0;
  std::mutex mutex;
  std::vector<std::uintptr_t> misalignment;
  HttpServer server(http, [&](HttpRequest request, Reply reply) {
    const std::size_t json_length = std::stoul(request.Header("inference-header-content-length"));
    {
      std::lock_guard lock(mutex);
      misalignment.push_back(reinterpret_cast<std::uintptr_t>(request.body.data() + json_length) %
                             alignof(std::max_align_t));
    }
    HttpResponse r;
    r.body = std::string(request.body.substr(0, json_length));
    // The tail: the request's own binary part, kept alive by its buffer.
    r.tail = {request.body.substr(json_length, 3), request.body.substr(json_length + 3)};
    r.tail_owner = request.body_buffer;
    reply.Send(std::move(r));
  });
  server.Start();
  const loadgen::Url url{"127.0.0.1", std::to_string(server.port()), "/"};
  for (std::size_t json_length = 1; json_length <= 17; ++json_length) {
    const std::string body = std::string(json_length, '{') + "0123456789abcdef";
    const auto r =
        loadgen::Fetch(url, {"POST",
                             "/",
                             body,
                             "application/octet-stream",
                             {{"Inference-Header-Content-Length", std::to_string(json_length)}}});
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body, body) << json_length;
  }
  const std::string chunked =
      "POST / HTTP/1.1\r\nHost: x\r\nInference-Header-Content-Length: 5\r\n"
      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      "3\r\n{{{\r\n6\r\n{{abcd\r\n0\r\n\r\n";
  const std::string answer = loadgen::SendRaw(url, chunked);
  EXPECT_NE(answer.find("\r\n\r\n{{{{{abcd"), std::string::npos) << answer;
  EXPECT_EQ(server.Shutdown(std::chrono::milliseconds(500)), 0u);
  std::lock_guard lock(mutex);
  EXPECT_EQ(misalignment, std::vector<std::uintptr_t>(18, 0));
}

TEST(Server, AReplyDroppedByAHandlerBugIsAnswered500) {
  HttpServerOptions http;
  http.port = 0;
  HttpServer server(http, [](HttpRequest, Reply) { /* forgets to answer */ });
  server.Start();
  loadgen::Url url{"127.0.0.1", std::to_string(server.port()), "/"};
  const auto r = loadgen::Fetch(url, {"GET", "/", "", "", {}}, std::chrono::milliseconds(2000));
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("dropped unanswered"), std::string::npos);
  EXPECT_EQ(server.Shutdown(std::chrono::milliseconds(500)), 0u);
}

TEST(Server, AnAnswerThatComesAfterTheServerStoppedFreesItsConnection) {
  // A batch that finishes after the shutdown: its answer has nowhere to go. It must not keep
  // the connection (and the server behind it) alive for the rest of the process.
  HttpServerOptions http;
  http.port = 0;
  std::mutex mutex;
  std::optional<Reply> late;
  HttpServer server(http, [&](HttpRequest, Reply reply) {
    std::lock_guard lock(mutex);
    late = std::move(reply);
  });
  server.Start();
  loadgen::Url url{"127.0.0.1", std::to_string(server.port()), "/"};
  auto call = std::async(std::launch::async, [&] {
    return loadgen::Fetch(url, {"GET", "/", "", "", {}}, std::chrono::milliseconds(5000));
  });
  for (int i = 0; i < 5000 && server.in_flight() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(server.in_flight(), 1u);
  EXPECT_EQ(server.Shutdown(std::chrono::milliseconds(0)), 1u);
  EXPECT_EQ(call.get().status, 0) << "the client's connection was closed unanswered";
  {
    std::lock_guard lock(mutex);
    late->Send({});
    late.reset();
  }
  EXPECT_EQ(server.open_connections(), 0u);
}

TEST(Server, ABusyPortIsAClearError) {
  HttpServerOptions http;
  http.port = 0;
  HttpServer first(http, [](HttpRequest, Reply reply) { reply.Send({}); });
  http.port = first.port();
  try {
    HttpServer second(http, [](HttpRequest, Reply reply) { reply.Send({}); });
    FAIL() << "a second server on the same port";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("another server holds the port"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace fwbench::serve
