// The load generator against the real server in-process: closed and open loop, intended-time
// latency through a server stall, errors by kind, protocol requests the server accepts.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "loadgen/load_runner.h"
#include "loadgen/protocol_request.h"
#include "support/serve_fixture.h"

namespace fwbench::loadgen {
namespace {

using fwbench::testing::TestServer;

LoadRequest Health(const TestServer& s) {
  LoadRequest r;
  r.server = s.url;
  r.target = "/v2/health/live";
  return r;
}

TEST(LoadRunner, ClosedLoopKeepsEveryConnectionBusyAndCountsFromTheSendTime) {
  TestServer s;
  LoadOptions o;
  o.connections = 4;
  o.threads = 2;
  o.warmup_s = 0.1;
  o.duration_s = 0.5;
  const auto records = RunLoad(Health(s), o);
  ASSERT_GT(records.size(), 20u);
  for (const auto& r : records) {
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.intended_ns, r.sent_ns) << "closed loop: sent when the last one was answered";
    EXPECT_GE(r.done_ns, r.sent_ns);
  }
  // Nothing starts after the end.
  EXPECT_LT(records.back().intended_ns, 600'000'000);
}

TEST(LoadRunner, PollingBeforeSleepingAnswersTheSame) {
  TestServer s;
  LoadOptions o;
  o.connections = 2;
  o.warmup_s = 0;
  o.duration_s = 0.3;
  o.spin_ns = 50'000;
  const auto records = RunLoad(Health(s), o);
  ASSERT_GT(records.size(), 20u);
  for (const auto& r : records) EXPECT_EQ(r.error, "");
  o.open_loop = true;  // between scheduled sends the thread polls, then sleeps
  o.rate_per_s = 50;
  EXPECT_EQ(RunLoad(Health(s), o).size(), 15u);
}

TEST(LoadRunner, OpenLoopSendsOnScheduleAndChargesAStallToEveryDelayedRequest) {
  auto config = fwbench::testing::DoublingConfig();
  config.batching.max_batch_size = 1;
  TestServer s(config);
  const auto inputs = FetchInputs(LoadProtocol::kKserveV2, s.url, "double", "", 1);
  ASSERT_EQ(inputs.size(), 1u);
  EXPECT_EQ(inputs[0].shape, (std::vector<std::int64_t>{1, 4}));
  const LoadRequest req =
      BuildInferRequest(LoadProtocol::kKserveV2, s.url, "double", "", inputs, false, 7);

  LoadOptions o;
  o.open_loop = true;
  o.rate_per_s = 100;
  o.connections = 1;  // one connection: a slow answer delays everything behind it
  o.warmup_s = 0;
  o.duration_s = 1.0;
  std::thread stall([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    s.model->delay_ms = 400;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    s.model->delay_ms = 0;
  });
  const auto records = RunLoad(req, o);
  stall.join();
  ASSERT_EQ(records.size(), 100u) << "100/s for 1 s";
  ArrivalSchedule schedule(ArrivalSchedule::Kind::kConstant, 100, 1);
  for (const auto& r : records) {
    EXPECT_EQ(r.intended_ns, schedule.Next());
    EXPECT_EQ(r.error, "");
  }
  SummaryOptions so;
  so.warmup_ns = 0;
  so.offered_per_s = 100;
  so.min_seconds = 0.5;
  so.min_requests = 50;
  const LoadSummary summary = Summarize(records, so);
  // The 400 ms stall held up the ~40 requests due during it: from their intended times their
  // latency is hundreds of ms; from their send times it would be ~1 ms.
  EXPECT_GT(summary.latency.max(), 350'000'000);
  EXPECT_GT(summary.latency.ValueAtPercentile(90), 50'000'000);
  EXPECT_LE(
      std::count_if(records.begin(), records.end(),
                    [](const RequestRecord& r) { return r.done_ns - r.sent_ns > 350'000'000; }),
      1)
      << "only the stalled request itself was slow once sent";
}

TEST(LoadRunner, OpenLoopReconnectsWhenTheServerClosedAnIdleConnection) {
  // The server closes a connection idle for 100 ms (as uvicorn does after 5 s); requests 250 ms
  // apart on one connection each find theirs closed. Each must go out on a new connection, not
  // fail on the dead one.
  serve::HttpServerOptions http;
  http.read_timeout = std::chrono::milliseconds(100);
  TestServer s(fwbench::testing::DoublingConfig(), http);
  LoadOptions o;
  o.open_loop = true;
  o.rate_per_s = 4;
  o.connections = 1;
  o.warmup_s = 0;
  o.duration_s = 1.0;
  const auto records = RunLoad(Health(s), o);
  ASSERT_EQ(records.size(), 4u);
  for (const auto& r : records) EXPECT_EQ(r.error, "") << "request intended at " << r.intended_ns;
}

TEST(LoadRunner, RequestsAndAnswersLargerThanASocketBufferGoThroughInPieces) {
  // 4.8 MB each way (binary tensors): more than the kernel takes or gives in one call, so the
  // request is written across several writable events and the answer read across several reads.
  TestServer s;
  const auto inputs = FetchInputs(LoadProtocol::kKserveV2, s.url, "double", "", 300'000);
  const LoadRequest req =
      BuildInferRequest(LoadProtocol::kKserveV2, s.url, "double", "", inputs, true, 3);
  ASSERT_GT(req.body.size(), 4'000'000u);
  LoadOptions o;
  o.connections = 2;
  o.warmup_s = 0;
  o.duration_s = 0.3;
  const auto records = RunLoad(req, o);
  ASSERT_GE(records.size(), 2u);
  // No error: a 2xx whose whole body (its Content-Length) was read.
  for (const auto& r : records) EXPECT_EQ(r.error, "");
  std::size_t answered = 0;
  for (const std::size_t n : s.model->batches) answered += n;
  EXPECT_EQ(answered, records.size()) << "the model ran every request the generator counted";
}

// A server that answers 413 from the first bytes of a request and closes with the rest unread,
// so that the kernel resets the connection under a client still sending (fwbench serve lingers
// instead; many servers do not).
class ResettingServer {
 public:
  ResettingServer() {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof addr;
    if (bind(listener_, reinterpret_cast<sockaddr*>(&addr), length) != 0 ||
        listen(listener_, 4) != 0 ||
        getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
      throw std::runtime_error("cannot listen on loopback");
    }
    url.host = "127.0.0.1";
    url.port = std::to_string(ntohs(addr.sin_port));
    thread_ = std::thread([this] {
      const int c = accept(listener_, nullptr, nullptr);
      if (c < 0) return;
      char head[4096];
      if (recv(c, head, sizeof head, 0) > 0) {
        const std::string answer =
            "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        (void)send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
      }
      close(c);
    });
  }
  ~ResettingServer() {
    shutdown(listener_, SHUT_RDWR);
    thread_.join();
    close(listener_);
  }
  Url url;

 private:
  int listener_ = -1;
  std::thread thread_;
};

TEST(LoadRunner, AnAnswerSentBeforeTheRequestWasWholeIsWhatTheRequestGot) {
  // The server answers 413 and resets the connection while 8 MB are still being sent. The
  // answer is in the receive queue before the reset: the record says 413, not "reset".
  ResettingServer server;
  LoadRequest big;
  big.server = server.url;
  big.method = "POST";
  big.target = "/v2/models/double/infer";
  big.body.assign(8u << 20, 'x');
  LoadOptions o;
  o.connections = 1;
  o.warmup_s = 0;
  o.duration_s = 5;
  o.max_requests = 1;
  const auto records = RunLoad(big, o);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].error, "http_413");
}

TEST(LoadRunner, ErrorsAreCountedByKind) {
  TestServer s;
  // HTTP errors: an unknown model is a 404 on every request.
  LoadRequest bad = Health(s);
  bad.target = "/v2/models/nope/ready";
  LoadOptions o;
  o.connections = 2;
  o.warmup_s = 0;
  o.duration_s = 0.2;
  auto records = RunLoad(bad, o);
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records[0].error, "http_404");

  // Timeouts: the model takes longer than the generator waits.
  s.model->delay_ms = 800;
  const auto inputs = FetchInputs(LoadProtocol::kTfServing, s.url, "double", "", 1);
  const LoadRequest slow =
      BuildInferRequest(LoadProtocol::kTfServing, s.url, "double", "", inputs, false, 1);
  o.timeout_s = 0.2;
  o.connections = 1;
  records = RunLoad(slow, o);
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records[0].error, "timeout");
  s.model->delay_ms = 0;

  // Refused connections: nobody listens on the port any more.
  LoadRequest gone = Health(s);
  s.server->Shutdown(std::chrono::milliseconds(100));
  o.timeout_s = 1;
  records = RunLoad(gone, o);
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records[0].error, "connect");
}

TEST(LoadRunner, EveryProtocolsRequestIsAcceptedByTheServer) {
  TestServer s;
  const std::vector<InputSpec> inputs = {{"x", "FP32", {3, 4}}};
  for (const auto protocol :
       {LoadProtocol::kKserveV2, LoadProtocol::kTfServing, LoadProtocol::kTorchServe}) {
    for (const bool binary : {false, true}) {
      if (binary && protocol != LoadProtocol::kKserveV2) continue;
      const LoadRequest r = BuildInferRequest(protocol, s.url, "double", "1", inputs, binary, 3);
      const HttpResult answer = Fetch(s.url, r);
      EXPECT_EQ(answer.status, 200) << r.target << " " << answer.body.substr(0, 200);
    }
  }
  // Same seed, same body; another seed, another body.
  EXPECT_EQ(BuildInferRequest(LoadProtocol::kKserveV2, s.url, "double", "", inputs, false, 3).body,
            BuildInferRequest(LoadProtocol::kKserveV2, s.url, "double", "", inputs, false, 3).body);
  EXPECT_NE(BuildInferRequest(LoadProtocol::kKserveV2, s.url, "double", "", inputs, false, 3).body,
            BuildInferRequest(LoadProtocol::kKserveV2, s.url, "double", "", inputs, false, 4).body);
  EXPECT_THROW(FetchInputs(LoadProtocol::kKserveV2, s.url, "nope", "", 1), UsageError);
}

TEST(LoadRunner, UrlsAreCheckedWithAClearMessage) {
  EXPECT_EQ(ParseUrl("http://127.0.0.1:8000/v2/health/ready").port, "8000");
  EXPECT_EQ(ParseUrl("http://localhost/x?y=1").target, "/x?y=1");
  EXPECT_EQ(ParseUrl("http://localhost").port, "80");
  for (const char* bad :
       {"https://x", "localhost:80", "http://:80/", "http://x:99999/", "http://x:ab/"}) {
    EXPECT_THROW(ParseUrl(bad), UsageError) << bad;
  }
  EXPECT_THROW(ParseLoadProtocol("grpc"), UsageError);
}

}  // namespace
}  // namespace fwbench::loadgen
