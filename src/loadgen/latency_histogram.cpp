#include "loadgen/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>

namespace fwbench::loadgen {

namespace {

// 2^11 sub-buckets: values below 2048 are exact; above, each power-of-two range [2^k, 2^(k+1))
// is split into 1024 equal steps of 2^(k-10), a relative step ≤ 1/1024.
constexpr int kSubBucketBits = 11;
constexpr std::int64_t kSubBuckets = std::int64_t{1} << kSubBucketBits;
constexpr std::int64_t kHalf = kSubBuckets / 2;
// Bucket b ≥ 1 covers [2^(b+10), 2^(b+11)) with its upper 1024 sub-buckets.
constexpr int kBuckets = 48 - kSubBucketBits + 1;

}  // namespace

LatencyHistogram::LatencyHistogram()
    : counts_(static_cast<std::size_t>(kSubBuckets + (kBuckets - 1) * kHalf + 1), 0) {}

std::size_t LatencyHistogram::Index(std::int64_t value) {
  if (value < kSubBuckets) return static_cast<std::size_t>(value);
  const int top = 63 - std::countl_zero(static_cast<std::uint64_t>(value));  // value in [2^top, …)
  const int bucket = top - kSubBucketBits + 1;                               // ≥ 1
  const std::int64_t sub = value >> bucket;                                  // in [1024, 2048)
  return static_cast<std::size_t>(kSubBuckets + (bucket - 1) * kHalf + (sub - kHalf));
}

std::int64_t LatencyHistogram::HighestEquivalent(std::size_t index) {
  const auto i = static_cast<std::int64_t>(index);
  if (i < kSubBuckets) return i;
  const std::int64_t bucket = (i - kSubBuckets) / kHalf + 1;
  const std::int64_t sub = (i - kSubBuckets) % kHalf + kHalf;
  return ((sub + 1) << bucket) - 1;
}

void LatencyHistogram::Record(std::int64_t value_ns) {
  std::int64_t v = std::max<std::int64_t>(0, value_ns);
  if (v > kMaxValueNs) {
    v = kMaxValueNs;
    saturated_ = true;
  }
  ++counts_[Index(v)];
  min_ = count_ == 0 ? v : std::min(min_, v);
  max_ = std::max(max_, v);
  sum_ += static_cast<double>(v);
  ++count_;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
  count_ += other.count_;
  saturated_ = saturated_ || other.saturated_;
}

std::int64_t LatencyHistogram::ValueAtPercentile(double percentile) const {
  if (!(percentile >= 0.0 && percentile <= 100.0)) {
    throw std::invalid_argument("percentile must be within [0, 100]");
  }
  if (count_ == 0) return 0;
  if (percentile == 0.0) return min_;
  if (percentile == 100.0) return max_;
  const auto rank =
      static_cast<std::int64_t>(std::ceil(percentile / 100.0 * static_cast<double>(count_)));
  std::int64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(HighestEquivalent(i), min_, max_);
  }
  return max_;
}

}  // namespace fwbench::loadgen
