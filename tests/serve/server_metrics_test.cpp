#include "serve/server_metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace fwbench::serve {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(ServerMetrics, CountersAndCumulativeHistogramsInTheTextFormat) {
  ServerMetrics m;
  m.CountRequest("resnet", "kserve_v2", 200);
  m.CountRequest("resnet", "kserve_v2", 200);
  m.CountRequest("resnet", "tf_serving", 400);
  m.CountRequest("resnet", "tf_serving", 503);
  m.ObserveQueueSeconds("resnet", 0.0003);
  m.ObserveQueueSeconds("resnet", 0.004);
  m.ObserveQueueSeconds("resnet", 9.0);
  m.ObserveBatchSize("resnet", 8);
  const std::string text = m.Render();
  EXPECT_TRUE(Has(text, "# TYPE fwbench_requests_total counter")) << text;
  EXPECT_TRUE(
      Has(text, R"(fwbench_requests_total{model="resnet",protocol="kserve_v2",code="200"} 2)"))
      << text;
  EXPECT_TRUE(
      Has(text, R"(fwbench_request_failures_total{model="resnet",protocol="tf_serving"} 2)"))
      << text;
  // Buckets are cumulative; le="+Inf" is the count.
  EXPECT_TRUE(Has(text, R"(fwbench_queue_seconds_bucket{model="resnet",le="0.0001"} 0)")) << text;
  EXPECT_TRUE(Has(text, R"(fwbench_queue_seconds_bucket{model="resnet",le="0.0005"} 1)")) << text;
  EXPECT_TRUE(Has(text, R"(fwbench_queue_seconds_bucket{model="resnet",le="0.005"} 2)")) << text;
  EXPECT_TRUE(Has(text, R"(fwbench_queue_seconds_bucket{model="resnet",le="5"} 2)")) << text;
  EXPECT_TRUE(Has(text, R"(fwbench_queue_seconds_bucket{model="resnet",le="+Inf"} 3)")) << text;
  EXPECT_TRUE(Has(text, R"(fwbench_queue_seconds_count{model="resnet"} 3)")) << text;
  EXPECT_TRUE(Has(text, R"(fwbench_batch_size_bucket{model="resnet",le="8"} 1)")) << text;
  EXPECT_TRUE(Has(text, R"(fwbench_batch_size_bucket{model="resnet",le="4"} 0)")) << text;
}

TEST(ServerMetrics, LabelValuesAreEscapedAndConcurrentRecordsAreAllCounted) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  ServerMetrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m] {
      for (int i = 0; i < 1000; ++i) m.CountRequest("m", "p", 200);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(Has(m.Render(), R"(fwbench_requests_total{model="m",protocol="p",code="200"} 4000)"));
}

}  // namespace
}  // namespace fwbench::serve
