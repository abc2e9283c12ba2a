// What viewing binary tensors in place saves (issue 22): the KServe v2 binary tensor extension's
// request decoded with its tensor copied out of the body (as before) and viewed where it lies
// (as the server now does), and a binary answer built by appending the outputs to the body (as
// before) and sent as views of them (as now). Sizes: one and eight ResNet 224² images (602,112
// and 4,816,896 bytes); 1,000 logits and a 21-class 224² segmentation map as outputs. And a
// KServe JSON answer built as a tree of its values and dumped (as before) against written
// straight from the outputs (as now).
//   build/bench/binary_tensor_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "serve/http_bodies.h"
#include "serve/infer_request.h"
#include "serve/responses.h"

namespace {

using fwbench::serve::InferRequest;
using fwbench::serve::ModelSignature;

struct Body {
  std::shared_ptr<std::string> buffer;
  std::string_view view;
  std::size_t json_length = 0;
};

// A request for `images` 3×224×224 images, placed as the server's request reader places it.
Body ImagesBody(std::int64_t images) {
  const std::size_t bytes = static_cast<std::size_t>(images) * 3 * 224 * 224 * sizeof(float);
  const std::string header = R"({"inputs":[{"name":"input","shape":[)" + std::to_string(images) +
                             R"(,3,224,224],"datatype":"FP32","parameters":{"binary_data_size":)" +
                             std::to_string(bytes) + "}}]}";
  const std::size_t offset = fwbench::serve::AlignedBodyOffset(std::to_string(header.size()));
  Body b;
  b.buffer = std::make_shared<std::string>(offset, '\0');
  b.buffer->append(header);
  b.buffer->append(bytes, '\x3f');
  b.view = std::string_view(*b.buffer).substr(offset);
  b.json_length = header.size();
  return b;
}

const ModelSignature kResnet{"resnet", {{"input", "FP32", {-1, 3, 224, 224}}}, {}};

void BM_DecodeCopied(benchmark::State& state) {
  const Body b = ImagesBody(state.range(0));
  for (auto _ : state) {
    InferRequest r = fwbench::serve::ParseKserveV2Request(b.view, kResnet, b.json_length);
    benchmark::DoNotOptimize(r.inputs[0].fp32.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * b.view.size()));
}
BENCHMARK(BM_DecodeCopied)->Arg(1)->Arg(8)->Unit(benchmark::kMicrosecond);

void BM_DecodeViewed(benchmark::State& state) {
  const Body b = ImagesBody(state.range(0));
  for (auto _ : state) {
    InferRequest r = fwbench::serve::ParseKserveV2Request(b.view, kResnet, b.json_length, b.buffer);
    if (!r.inputs[0].fp32.is_view()) state.SkipWithError("the tensor was copied");
    benchmark::DoNotOptimize(r.inputs[0].fp32.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * b.view.size()));
}
BENCHMARK(BM_DecodeViewed)->Arg(1)->Arg(8)->Unit(benchmark::kMicrosecond);

constexpr std::int64_t kSegmentationMap = std::int64_t{21} * 224 * 224;

std::vector<fwbench::serve::OutputTensor> Outputs(std::int64_t values) {
  // Logit-like values: every digit of a float is written.
  std::vector<float> v(static_cast<std::size_t>(values));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = 4.f * std::sin(static_cast<float>(i));
  fwbench::serve::OutputTensor t;
  t.name = "out";
  t.shape = {1, values};
  t.fp32.assign(v.begin(), v.end());
  return {t};
}

void BM_AnswerAppended(benchmark::State& state) {
  const auto outputs = Outputs(state.range(0));
  for (auto _ : state) {
    const auto b = fwbench::serve::KserveV2BinaryResponse("m", "1", "", outputs);
    std::string body = b.json;
    for (const auto& t : b.tensors) body.append(t);
    benchmark::DoNotOptimize(body.data());
  }
}
BENCHMARK(BM_AnswerAppended)->Arg(1000)->Arg(kSegmentationMap)->Unit(benchmark::kMicrosecond);

void BM_AnswerViewed(benchmark::State& state) {
  const auto outputs = Outputs(state.range(0));
  for (auto _ : state) {
    const auto b = fwbench::serve::KserveV2BinaryResponse("m", "1", "", outputs);
    benchmark::DoNotOptimize(b.tensors.data());
  }
}
BENCHMARK(BM_AnswerViewed)->Arg(1000)->Arg(kSegmentationMap)->Unit(benchmark::kMicrosecond);

// A KServe JSON answer as a tree of the values, dumped: how it was written before issue 22.
void BM_JsonAnswerTree(benchmark::State& state) {
  const auto outputs = Outputs(state.range(0));
  for (auto _ : state) {
    nlohmann::json out = {{"model_name", "m"}, {"model_version", "1"}, {"outputs", {}}};
    for (const auto& t : outputs) {
      out["outputs"].push_back({{"name", t.name},
                                {"datatype", "FP32"},
                                {"shape", t.shape},
                                {"data", nlohmann::json::array_t(t.fp32.begin(), t.fp32.end())}});
    }
    const std::string body = out.dump();
    benchmark::DoNotOptimize(body.data());
  }
}
BENCHMARK(BM_JsonAnswerTree)->Arg(1000)->Arg(kSegmentationMap)->Unit(benchmark::kMicrosecond);

void BM_JsonAnswerWritten(benchmark::State& state) {
  const auto outputs = Outputs(state.range(0));
  for (auto _ : state) {
    const std::string body = fwbench::serve::KserveV2Response("m", "1", "", outputs);
    benchmark::DoNotOptimize(body.data());
  }
}
BENCHMARK(BM_JsonAnswerWritten)->Arg(1000)->Arg(kSegmentationMap)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
