#include "serve/server_metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace fwbench::serve {

namespace {

// A number as Prometheus reads it: integers without a fraction, others in shortest form.
std::string Number(double v) { return fmt::format("{}", v); }

}  // namespace

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void ServerMetrics::Histogram::Observe(double v) {
  const auto it = std::lower_bound(bounds.begin(), bounds.end(), v);
  ++counts[static_cast<std::size_t>(it - bounds.begin())];
  sum += v;
  ++count;
}

ServerMetrics::Histogram ServerMetrics::SecondsHistogram() {
  Histogram h;
  h.bounds = {0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
  h.counts.assign(h.bounds.size() + 1, 0);
  return h;
}

ServerMetrics::Histogram ServerMetrics::BatchHistogram() {
  Histogram h;
  h.bounds = {1, 2, 4, 8, 16, 32, 64, 128};
  h.counts.assign(h.bounds.size() + 1, 0);
  return h;
}

void ServerMetrics::CountRequest(const std::string& model, const std::string& protocol,
                                 int status) {
  const std::lock_guard lock(mutex_);
  ++requests_[{model, protocol, status}];
}

void ServerMetrics::ObserveQueueSeconds(const std::string& model, double seconds) {
  Observe(queue_, model, seconds, SecondsHistogram);
}

void ServerMetrics::ObserveComputeSeconds(const std::string& model, double seconds) {
  Observe(compute_, model, seconds, SecondsHistogram);
}

void ServerMetrics::ObserveBatchSize(const std::string& model, std::int64_t size) {
  Observe(batch_, model, static_cast<double>(size), BatchHistogram);
}

void ServerMetrics::Observe(std::map<std::string, Histogram>& series, const std::string& model,
                            double value, Histogram (*make)()) {
  const std::lock_guard lock(mutex_);
  auto it = series.find(model);
  if (it == series.end()) it = series.emplace(model, make()).first;
  it->second.Observe(value);
}

void ServerMetrics::ObserveDecodeSeconds(const std::string& model, double seconds) {
  Observe(decode_, model, seconds, SecondsHistogram);
}

void ServerMetrics::ObserveEncodeSeconds(const std::string& model, double seconds) {
  Observe(encode_, model, seconds, SecondsHistogram);
}

std::string ServerMetrics::Render() const {
  const std::lock_guard lock(mutex_);
  std::string out;
  out += "# HELP fwbench_requests_total Requests answered, by model, protocol and HTTP status.\n";
  out += "# TYPE fwbench_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [model, protocol, status] = key;
    out += fmt::format("fwbench_requests_total{{model=\"{}\",protocol=\"{}\",code=\"{}\"}} {}\n",
                       EscapeLabelValue(model), EscapeLabelValue(protocol), status, n);
  }
  out += "# HELP fwbench_request_failures_total Requests answered with a status of 400 or more.\n";
  out += "# TYPE fwbench_request_failures_total counter\n";
  std::map<std::pair<std::string, std::string>, std::int64_t> failures;
  for (const auto& [key, n] : requests_) {
    if (std::get<2>(key) >= 400) failures[{std::get<0>(key), std::get<1>(key)}] += n;
  }
  for (const auto& [key, n] : failures) {
    out += fmt::format("fwbench_request_failures_total{{model=\"{}\",protocol=\"{}\"}} {}\n",
                       EscapeLabelValue(key.first), EscapeLabelValue(key.second), n);
  }
  const auto family = [&](const char* name, const char* help,
                          const std::map<std::string, Histogram>& series) {
    out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
    for (const auto& [model, h] : series) {
      const std::string label = EscapeLabelValue(model);
      std::int64_t cumulative = 0;
      for (std::size_t i = 0; i < h.bounds.size(); ++i) {
        cumulative += h.counts[i];
        out += fmt::format("{}_bucket{{model=\"{}\",le=\"{}\"}} {}\n", name, label,
                           Number(h.bounds[i]), cumulative);
      }
      out += fmt::format("{}_bucket{{model=\"{}\",le=\"+Inf\"}} {}\n", name, label, h.count);
      out += fmt::format("{}_sum{{model=\"{}\"}} {}\n", name, label, Number(h.sum));
      out += fmt::format("{}_count{{model=\"{}\"}} {}\n", name, label, h.count);
    }
  };
  family("fwbench_decode_seconds",
         "Time a request body took to become checked input tensors (bodies that passed the "
         "checks, including those then refused by a full queue).",
         decode_);
  family("fwbench_queue_seconds", "Time a request waited for its batch.", queue_);
  family("fwbench_compute_seconds", "Time the model took for a batch.", compute_);
  family("fwbench_encode_seconds", "Time a request's outputs took to become its response body.",
         encode_);
  family("fwbench_batch_size", "Requests per batch the model ran.", batch_);
  return out;
}

}  // namespace fwbench::serve
