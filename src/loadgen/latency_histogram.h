#pragma once
// A latency histogram that keeps every recorded value (no sampling, no reservoir) to three
// significant digits, HdrHistogram-style: values below 2048 ns exactly, above that each power of
// two split linearly into 1024 steps, so any value up to 2^48 ns (78 hours) is held with a
// relative error below 1/1024 (0.1%), in a fixed 320 KiB. Min, max, count and mean are exact. This
// is what the load generator (issue 7) reports p50/p90/p99/p99.9/max from; merging per-connection
// histograms is lossless.
#include <cstdint>
#include <vector>

namespace fwbench::loadgen {

class LatencyHistogram {
 public:
  // Values above kMaxValueNs are counted as kMaxValueNs and flagged (saturated()).
  static constexpr std::int64_t kMaxValueNs = std::int64_t{1} << 48;

  LatencyHistogram();

  // `value_ns` < 0 is counted as 0.
  void Record(std::int64_t value_ns);
  void Merge(const LatencyHistogram& other);

  std::int64_t count() const { return count_; }
  std::int64_t min() const { return count_ == 0 ? 0 : min_; }
  std::int64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_); }
  bool saturated() const { return saturated_; }

  // The smallest recorded value v (to the histogram's precision) such that at least
  // `percentile`% of the values are ≤ v; percentile in [0, 100]. 100 gives max() exactly, 0
  // min() exactly; 0 for an empty histogram. Throws std::invalid_argument outside [0, 100].
  std::int64_t ValueAtPercentile(double percentile) const;

 private:
  static std::size_t Index(std::int64_t value);
  static std::int64_t HighestEquivalent(std::size_t index);

  std::vector<std::int64_t> counts_;
  std::int64_t count_ = 0;
  std::int64_t min_ = 0;
  std::int64_t max_ = 0;
  double sum_ = 0.0;
  bool saturated_ = false;
};

}  // namespace fwbench::loadgen
