#pragma once
// The server's /metrics in the Prometheus text exposition format 0.0.4 (issue 7): request and
// failure counters by model, protocol and status code; histograms of decode, queue, compute and
// encode time and of batch size per model. Thread-safe: the server's threads record, the scrape
// renders.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace fwbench::serve {

class ServerMetrics {
 public:
  void CountRequest(const std::string& model, const std::string& protocol, int status);
  void ObserveQueueSeconds(const std::string& model, double seconds);
  void ObserveComputeSeconds(const std::string& model, double seconds);
  void ObserveBatchSize(const std::string& model, std::int64_t size);
  // Request body to checked tensors, and outputs to the response body (per request).
  void ObserveDecodeSeconds(const std::string& model, double seconds);
  void ObserveEncodeSeconds(const std::string& model, double seconds);

  // The whole exposition, families in a fixed order, series sorted by label.
  std::string Render() const;

 private:
  struct Histogram {
    std::vector<double> bounds;
    std::vector<std::int64_t> counts;  // per bucket, not cumulative; last = +Inf
    double sum = 0.0;
    std::int64_t count = 0;
    void Observe(double v);
  };
  static Histogram SecondsHistogram();
  static Histogram BatchHistogram();
  // One observation of `model`'s series, made with `make` on its first.
  void Observe(std::map<std::string, Histogram>& series, const std::string& model, double value,
               Histogram (*make)());

  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, std::int64_t> requests_;
  std::map<std::string, Histogram> queue_, compute_, batch_, decode_, encode_;
};

// A label value escaped as the format requires (backslash, double quote, newline).
std::string EscapeLabelValue(const std::string& value);

}  // namespace fwbench::serve
