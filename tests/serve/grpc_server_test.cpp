// KServe v2 over gRPC against the in-process server, through the generated stub as any client
// would call it: health, metadata, inference with raw and typed tensors, each refusal's code and
// message, readiness, the bearer token, batching across calls and the drain on shutdown.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstring>
#include <future>
#include <string>
#include <vector>

#include "protocols/kserve_v2_grpc.grpc.pb.h"
#include "protocols/tf_serving_predict.grpc.pb.h"
#include "serve/grpc_server.h"
#include "support/grpc_fixture.h"

namespace fwbench::serve {
namespace {

using fwbench::testing::DoublingConfig;
using fwbench::testing::TestServer;
using inference::GRPCInferenceService;

using GrpcFixture = fwbench::testing::TestGrpcServer;

inference::ModelInferRequest RawRequest(const std::vector<float>& x, std::int64_t rows) {
  inference::ModelInferRequest r;
  r.set_model_name("double");
  r.set_id("g1");
  auto* in = r.add_inputs();
  in->set_name("x");
  in->set_datatype("FP32");
  in->add_shape(rows);
  in->add_shape(4);
  r.add_raw_input_contents()->assign(reinterpret_cast<const char*>(x.data()),
                                     x.size() * sizeof(float));
  return r;
}

std::vector<float> RawOutput(const inference::ModelInferResponse& r) {
  std::vector<float> y(r.raw_output_contents(0).size() / sizeof(float));
  std::memcpy(y.data(), r.raw_output_contents(0).data(), y.size() * sizeof(float));
  return y;
}

grpc::Status Infer(GRPCInferenceService::Stub& stub, const inference::ModelInferRequest& request,
                   inference::ModelInferResponse* response = nullptr,
                   const std::string& token = "") {
  grpc::ClientContext context;
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  inference::ModelInferResponse ignored;
  return stub.ModelInfer(&context, request, response != nullptr ? response : &ignored);
}

TEST(GrpcServer, AnswersHealthMetadataAndInferenceWithRawAndTypedTensors) {
  GrpcFixture f;
  {
    grpc::ClientContext c;
    inference::ServerLiveResponse live;
    ASSERT_TRUE(f.stub->ServerLive(&c, {}, &live).ok());
    EXPECT_TRUE(live.live());
  }
  for (const auto& [name, ready] : {std::pair{"double", true}, std::pair{"nope", false}}) {
    grpc::ClientContext c;
    inference::ModelReadyRequest q;
    q.set_name(name);
    inference::ModelReadyResponse r;
    ASSERT_TRUE(f.stub->ModelReady(&c, q, &r).ok()) << name;
    EXPECT_EQ(r.ready(), ready) << name;
  }
  {
    grpc::ClientContext c;
    inference::ModelMetadataRequest q;
    q.set_name("double");
    inference::ModelMetadataResponse m;
    ASSERT_TRUE(f.stub->ModelMetadata(&c, q, &m).ok());
    ASSERT_EQ(m.versions_size(), 2);
    EXPECT_EQ(m.versions(1), "2");
    ASSERT_EQ(m.inputs_size(), 1);
    EXPECT_EQ(m.inputs(0).datatype(), "FP32");
    EXPECT_EQ(std::vector<std::int64_t>(m.inputs(0).shape().begin(), m.inputs(0).shape().end()),
              (std::vector<std::int64_t>{-1, 4}));
    EXPECT_EQ(m.outputs(0).name(), "y");
  }
  {
    grpc::ClientContext c;
    inference::ServerMetadataResponse m;
    ASSERT_TRUE(f.stub->ServerMetadata(&c, {}, &m).ok());
    EXPECT_EQ(m.name(), "fwbench");
    EXPECT_EQ(m.version(), "test");
  }
  const std::vector<float> x = {1, 2, 3, 4, -1, 0.5f, 0, 8};
  inference::ModelInferResponse out;
  ASSERT_TRUE(Infer(*f.stub, RawRequest(x, 2), &out).ok());
  EXPECT_EQ(out.model_version(), "2");  // the latest
  EXPECT_EQ(out.id(), "g1");
  ASSERT_EQ(out.outputs_size(), 1);
  EXPECT_EQ(out.outputs(0).datatype(), "FP32");
  EXPECT_EQ(out.outputs(0).shape(0), 2);
  EXPECT_EQ(RawOutput(out), (std::vector<float>{2, 4, 6, 8, -2, 1, 0, 16}));

  auto typed = RawRequest(x, 2);
  typed.clear_raw_input_contents();
  typed.set_model_version("1");
  for (const float v : x) typed.mutable_inputs(0)->mutable_contents()->add_fp32_contents(v);
  ASSERT_TRUE(Infer(*f.stub, typed, &out).ok());
  EXPECT_EQ(out.model_version(), "1");
  EXPECT_EQ(RawOutput(out)[7], 16.0f);

  const std::string metrics = f.http.service->metrics().Render();
  EXPECT_NE(metrics.find(
                R"(fwbench_requests_total{model="double",protocol="kserve_v2_grpc",code="200"} 2)"),
            std::string::npos)
      << metrics;
}

TEST(GrpcServer, EveryRefusalCarriesItsCodeAndSaysWhatIsExpected) {
  GrpcFixture f;
  const std::vector<float> x(4, 1.0f);
  struct Case {
    const char* what;
    inference::ModelInferRequest request;
    grpc::StatusCode code;
    const char* message;
  };
  std::vector<Case> cases;
  auto unknown = RawRequest(x, 1);
  unknown.set_model_name("nope");
  cases.push_back({"unknown model", unknown, grpc::StatusCode::NOT_FOUND, "models: double"});
  auto version = RawRequest(x, 1);
  version.set_model_version("7");
  cases.push_back({"unknown version", version, grpc::StatusCode::NOT_FOUND, "versions: 1, 2"});
  auto shape = RawRequest(std::vector<float>(3, 1), 1);
  shape.mutable_inputs(0)->set_shape(1, 3);
  cases.push_back({"wrong shape", shape, grpc::StatusCode::INVALID_ARGUMENT, "expects [-1, 4]"});
  auto short_raw = RawRequest(x, 1);
  short_raw.mutable_raw_input_contents(0)->resize(12);
  cases.push_back({"raw bytes short", short_raw, grpc::StatusCode::INVALID_ARGUMENT,
                   "needs 16 bytes, raw_input_contents[0] has 12"});
  auto extra_raw = RawRequest(x, 1);
  extra_raw.add_raw_input_contents("abcd");
  cases.push_back({"raw entries vs inputs", extra_raw, grpc::StatusCode::INVALID_ARGUMENT,
                   "raw_input_contents has 2 entries for 1 inputs"});
  auto both = RawRequest(x, 1);
  both.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1);
  cases.push_back({"raw and typed", both, grpc::StatusCode::INVALID_ARGUMENT, "one way"});
  auto dtype = RawRequest(std::vector<float>(8, 1), 1);
  dtype.mutable_inputs(0)->set_datatype("INT64");
  cases.push_back(
      {"wrong datatype", dtype, grpc::StatusCode::INVALID_ARGUMENT, "model 'double' expects FP32"});
  auto name = RawRequest(x, 1);
  name.mutable_inputs(0)->set_name("z");
  cases.push_back({"unknown input", name, grpc::StatusCode::INVALID_ARGUMENT, "x FP32 [-1, 4]"});
  auto typed_short = RawRequest(x, 1);
  typed_short.clear_raw_input_contents();
  typed_short.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1);
  cases.push_back({"typed count", typed_short, grpc::StatusCode::INVALID_ARGUMENT,
                   "holds 4 values, contents.fp32_contents has 1"});
  auto negative = RawRequest(x, 1);
  negative.mutable_inputs(0)->set_shape(0, -1);
  cases.push_back(
      {"negative size", negative, grpc::StatusCode::INVALID_ARGUMENT, "must be non-negative"});
  for (const auto& c : cases) {
    const grpc::Status s = Infer(*f.stub, c.request);
    EXPECT_EQ(s.error_code(), c.code) << c.what << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(c.message), std::string::npos)
        << c.what << ": " << s.error_message();
  }
  f.http.model->fail = true;
  const grpc::Status failed = Infer(*f.stub, RawRequest(x, 1));
  EXPECT_EQ(failed.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_NE(failed.error_message().find("planted failure"), std::string::npos)
      << failed.error_message();
  // A message over the size limit is refused by gRPC itself, before any decoding.
  GrpcServerOptions small;
  small.port = 0;
  small.max_message_bytes = 1024;
  GrpcServer tight(*f.http.service, small);
  auto tight_stub = GRPCInferenceService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(tight.port()), grpc::InsecureChannelCredentials()));
  const grpc::Status big = Infer(*tight_stub, RawRequest(std::vector<float>(4 * 100, 1), 100));
  EXPECT_EQ(big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << big.error_message();
}

TEST(GrpcServer, NotReadyIsUnavailableAndTheBearerTokenGuardsAllButHealth) {
  ServiceOptions options;
  options.bearer_token = "s3cret";
  GrpcFixture f(DoublingConfig(), options, /*ready=*/false);
  const std::vector<float> x(4, 1.0f);
  {
    grpc::ClientContext c;
    inference::ServerReadyResponse r;
    ASSERT_TRUE(f.stub->ServerReady(&c, {}, &r).ok());  // open without the token
    EXPECT_FALSE(r.ready());
  }
  grpc::Status s = Infer(*f.stub, RawRequest(x, 1), nullptr, "s3cret");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(s.error_message().find("ServerReady"), std::string::npos) << s.error_message();
  f.http.service->WarmUpAndMarkReady();
  s = Infer(*f.stub, RawRequest(x, 1));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(s.error_message().find("authorization: Bearer TOKEN"), std::string::npos);
  s = Infer(*f.stub, RawRequest(x, 1), nullptr, "wrong");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(s.error_message().find("not valid"), std::string::npos);
  {
    grpc::ClientContext c;
    inference::ModelMetadataRequest q;
    q.set_name("double");
    inference::ModelMetadataResponse m;
    EXPECT_EQ(f.stub->ModelMetadata(&c, q, &m).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_TRUE(Infer(*f.stub, RawRequest(x, 1), nullptr, "s3cret").ok());
}

TEST(GrpcServer, ConcurrentCallsShareBatchesAndShutdownAnswersThoseInFlight) {
  GrpcFixture f;
  f.http.model->delay_ms = 300;
  const std::vector<float> x = {1, 2, 3, 4};
  std::vector<std::future<grpc::Status>> calls;
  for (int i = 0; i < 4; ++i) {
    calls.push_back(
        std::async(std::launch::async, [&] { return Infer(*f.stub, RawRequest(x, 1)); }));
  }
  // Every call is in the server (batched behind the first), then it is asked to stop.
  for (int i = 0; i < 200 && f.server->InFlight() < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(f.server->InFlight(), 4u);
  f.server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  for (auto& c : calls) {
    const grpc::Status s = c.get();
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_EQ(f.server->InFlight(), 0u);
  std::size_t requests = 0;
  {
    std::lock_guard lock(f.http.model->mutex);
    for (const auto n : f.http.model->batches) requests += n;
    EXPECT_LT(f.http.model->batches.size(), 4u);  // at least two calls shared a batch
  }
  EXPECT_EQ(requests, 4u);
}

tensorflow::serving::PredictRequest TfRequest(const std::vector<float>& x, std::int64_t rows) {
  tensorflow::serving::PredictRequest r;
  r.mutable_model_spec()->set_name("double");
  auto& t = (*r.mutable_inputs())["x"];
  t.set_dtype(tensorflow::serving::DataType::DT_FLOAT);
  t.mutable_tensor_shape()->add_dim()->set_size(rows);
  t.mutable_tensor_shape()->add_dim()->set_size(4);
  t.set_tensor_content(reinterpret_cast<const char*>(x.data()), x.size() * sizeof(float));
  return r;
}

TEST(GrpcServer, TfServingPredictAnswersOnTheSamePortAndRefusesWhatItCannotServe) {
  GrpcFixture f;
  auto stub = tensorflow::serving::PredictionService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(f.server->port()), grpc::InsecureChannelCredentials()));
  const auto predict = [&](const tensorflow::serving::PredictRequest& r,
                           tensorflow::serving::PredictResponse* out = nullptr) {
    grpc::ClientContext c;
    tensorflow::serving::PredictResponse ignored;
    return stub->Predict(&c, r, out != nullptr ? out : &ignored);
  };
  const std::vector<float> x = {1, 2, 3, 4, -1, 0.5f, 0, 8};
  tensorflow::serving::PredictResponse out;
  ASSERT_TRUE(predict(TfRequest(x, 2), &out).ok());
  ASSERT_EQ(out.outputs().count("y"), 1u);
  const auto& y = out.outputs().at("y");
  EXPECT_EQ(y.dtype(), tensorflow::serving::DataType::DT_FLOAT);
  ASSERT_EQ(y.tensor_shape().dim_size(), 2);
  EXPECT_EQ(y.tensor_shape().dim(0).size(), 2);
  std::vector<float> values(8);
  ASSERT_EQ(y.tensor_content().size(), 32u);
  std::memcpy(values.data(), y.tensor_content().data(), 32);
  EXPECT_EQ(values, (std::vector<float>{2, 4, 6, 8, -2, 1, 0, 16}));
  EXPECT_EQ(out.model_spec().version().value(), 2);  // the latest

  // A single float_val fills the shape, as TensorFlow reads it; version 1 asked by number.
  auto fill = TfRequest({}, 1);
  auto& t = (*fill.mutable_inputs())["x"];
  t.clear_tensor_content();
  t.add_float_val(3);
  fill.mutable_model_spec()->mutable_version()->set_value(1);
  fill.add_output_filter("y");
  ASSERT_TRUE(predict(fill, &out).ok());
  EXPECT_EQ(out.model_spec().version().value(), 1);
  std::memcpy(values.data(), out.outputs().at("y").tensor_content().data(), 16);
  EXPECT_EQ(std::vector<float>(values.begin(), values.begin() + 4),
            (std::vector<float>{6, 6, 6, 6}));

  struct Case {
    const char* what;
    tensorflow::serving::PredictRequest request;
    grpc::StatusCode code;
    const char* message;
  };
  std::vector<Case> cases;
  auto signature = TfRequest(x, 2);
  signature.mutable_model_spec()->set_signature_name("classify");
  cases.push_back({"signature", signature, grpc::StatusCode::INVALID_ARGUMENT,
                   "one signature, serving_default"});
  auto label = TfRequest(x, 2);
  label.mutable_model_spec()->set_version_label("stable");
  cases.push_back({"version label", label, grpc::StatusCode::INVALID_ARGUMENT,
                   "version labels are not served"});
  auto filter = TfRequest(x, 2);
  filter.add_output_filter("z");
  cases.push_back({"output filter", filter, grpc::StatusCode::INVALID_ARGUMENT,
                   "output_filter names 'z'; model 'double' has outputs y"});
  auto dtype = TfRequest(x, 2);
  (*dtype.mutable_inputs())["x"].set_dtype(tensorflow::serving::DataType::DT_INT64);
  cases.push_back(
      {"dtype", dtype, grpc::StatusCode::INVALID_ARGUMENT, "model 'double' expects FP32"});
  auto content = TfRequest(x, 3);
  cases.push_back({"content size", content, grpc::StatusCode::INVALID_ARGUMENT,
                   "needs 48 bytes of tensor_content, it has 32"});
  auto count = TfRequest({}, 2);
  (*count.mutable_inputs())["x"].add_float_val(1);
  (*count.mutable_inputs())["x"].add_float_val(2);
  cases.push_back({"float_val count", count, grpc::StatusCode::INVALID_ARGUMENT,
                   "holds 8 values, float_val has 2"});
  auto model = TfRequest(x, 2);
  model.mutable_model_spec()->set_name("nope");
  cases.push_back({"model", model, grpc::StatusCode::NOT_FOUND, "models: double"});
  for (const auto& c : cases) {
    const grpc::Status s = predict(c.request);
    EXPECT_EQ(s.error_code(), c.code) << c.what << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(c.message), std::string::npos)
        << c.what << ": " << s.error_message();
  }
  const std::string metrics = f.http.service->metrics().Render();
  EXPECT_NE(
      metrics.find(
          R"(fwbench_requests_total{model="double",protocol="tf_serving_grpc",code="200"} 2)"),
      std::string::npos)
      << metrics;
}

}  // namespace
}  // namespace fwbench::serve
