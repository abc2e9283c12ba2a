// fwbench load --grpc against the in-process server's gRPC port: the request it builds (the same
// values as over HTTP), closed and open loop recorded as the HTTP load is, a stall charged to
// every delayed call, and errors by kind.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <thread>

#include "core/error.h"
#include "loadgen/grpc_load.h"
#include "loadgen/load_summary.h"
#include "protocols/kserve_v2_grpc.pb.h"
#include "support/grpc_fixture.h"
#include "support/open_loop_stall.h"

namespace fwbench::loadgen {
namespace {

using fwbench::testing::TestGrpcServer;

std::map<std::string, int> ErrorKinds(const std::vector<RequestRecord>& records) {
  std::map<std::string, int> kinds;
  for (const auto& r : records) ++kinds[r.error];
  return kinds;
}

TEST(GrpcLoad, TheRequestCarriesTheModelsInputsWithTheValuesHttpWouldSend) {
  TestGrpcServer s;
  const auto inputs = FetchGrpcInputs(s.target, "double", "", 3);
  ASSERT_EQ(inputs.size(), 1u);
  EXPECT_EQ(inputs[0].name, "x");
  EXPECT_EQ(inputs[0].shape, (std::vector<std::int64_t>{3, 4}));
  const GrpcLoadRequest g = BuildGrpcInferRequest(s.target, "double", "1", inputs, 9, "");
  inference::ModelInferRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(g.serialized));
  EXPECT_EQ(parsed.model_name(), "double");
  EXPECT_EQ(parsed.model_version(), "1");
  ASSERT_EQ(parsed.raw_input_contents_size(), 1);
  EXPECT_EQ(parsed.raw_input_contents(0), InputBytes(inputs, 9)[0]);
  // The HTTP binary request of the same seed ends with the same bytes.
  const LoadRequest http =
      BuildInferRequest(LoadProtocol::kKserveV2, s.http.url, "double", "1", inputs, true, 9);
  EXPECT_EQ(http.body.substr(http.body.size() - 48), parsed.raw_input_contents(0));
  EXPECT_EQ(ProbeGrpc(g, 5.0), "");
  EXPECT_THROW(FetchGrpcInputs(s.target, "nope", "", 1), UsageError);
}

TEST(GrpcLoad, ClosedLoopKeepsEveryConnectionBusyAndStopsAtTheRequestBudget) {
  TestGrpcServer s;
  const auto inputs = FetchGrpcInputs(s.target, "double", "", 1);
  LoadOptions o;
  o.connections = 4;
  o.threads = 2;
  o.warmup_s = 0;
  o.duration_s = 30;
  o.max_requests = 200;
  const auto records = RunGrpcLoad(BuildGrpcInferRequest(s.target, "double", "", inputs, 1, ""), o);
  ASSERT_EQ(records.size(), 200u);
  for (const auto& r : records) {
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.intended_ns, r.sent_ns) << "closed loop: sent when the last one was answered";
    EXPECT_GE(r.done_ns, r.sent_ns);
  }
  std::size_t served = 0;
  {
    std::lock_guard lock(s.http.model->mutex);
    for (const auto n : s.http.model->batches) served += n;
  }
  EXPECT_EQ(served, 200u);
}

TEST(GrpcLoad, OpenLoopSendsOnScheduleAndChargesAStallToEveryDelayedRequest) {
  auto config = fwbench::testing::DoublingConfig();
  config.batching.max_batch_size = 1;
  TestGrpcServer s(config);
  const auto req = BuildGrpcInferRequest(s.target, "double", "",
                                         FetchGrpcInputs(s.target, "double", "", 1), 7, "");
  fwbench::testing::ExpectOpenLoopChargesAStallToEveryDelayedRequest(
      *s.http.model, [&](const LoadOptions& o) { return RunGrpcLoad(req, o); });
}

TEST(GrpcLoad, ErrorsAreCountedByKind) {
  TestGrpcServer s;
  const auto inputs = FetchGrpcInputs(s.target, "double", "", 1);
  LoadOptions o;
  o.connections = 2;
  o.warmup_s = 0;
  o.duration_s = 30;
  o.max_requests = 10;
  auto kinds =
      ErrorKinds(RunGrpcLoad(BuildGrpcInferRequest(s.target, "nope", "", inputs, 1, ""), o));
  EXPECT_EQ(kinds, (std::map<std::string, int>{{"grpc_not_found", 10}}));

  // Past the per-call deadline: "timeout". Open loop, one connection held by a slow call: the
  // requests waiting behind it time out without being sent late.
  s.http.model->delay_ms = 300;
  o.timeout_s = 0.1;
  o.max_requests = 2;
  kinds = ErrorKinds(RunGrpcLoad(BuildGrpcInferRequest(s.target, "double", "", inputs, 1, ""), o));
  EXPECT_EQ(kinds, (std::map<std::string, int>{{"timeout", 2}}));
  o.max_requests = 0;
  o.open_loop = true;
  o.rate_per_s = 50;
  o.connections = 1;
  o.duration_s = 0.2;
  const auto records = RunGrpcLoad(BuildGrpcInferRequest(s.target, "double", "", inputs, 1, ""), o);
  ASSERT_EQ(records.size(), 10u);
  for (const auto& r : records) {
    EXPECT_EQ(r.error, "timeout");
    EXPECT_LE(r.sent_ns - r.intended_ns, 150'000'000) << "sent (or given up) within its timeout";
  }
  s.http.model->delay_ms = 0;

  // Nobody listening: every call is a "connect" error (the summary says NOT VALID), and each
  // connection backs off from 1 ms, doubling to 100 ms, as the HTTP load's refused connects do:
  // at most about 18 calls per connection in a second, not a spin of failing calls.
  const std::string gone = s.target;
  s.server->Shutdown(std::chrono::system_clock::now());
  o = LoadOptions{};
  o.connections = 4;
  o.threads = 2;
  o.warmup_s = 0;
  o.duration_s = 1.0;
  o.timeout_s = 1;  // also how long the channels try to connect first
  const auto refused = RunGrpcLoad(BuildGrpcInferRequest(gone, "double", "", inputs, 1, ""), o);
  EXPECT_GE(refused.size(), 4u);
  EXPECT_LE(refused.size(), 4u * 30) << "failed connects were retried without pause";
  kinds = ErrorKinds(refused);
  EXPECT_EQ(kinds.size(), 1u);
  EXPECT_EQ(kinds.begin()->first, "connect");
  const LoadSummary summary = Summarize(refused, {.warmup_ns = 0});
  ASSERT_FALSE(summary.invalid.empty());
  EXPECT_NE(summary.invalid.back().find("could not connect"), std::string::npos);
}

}  // namespace
}  // namespace fwbench::loadgen
