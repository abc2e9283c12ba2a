#pragma once
// When an open-loop load generator intends to send each request: at a constant rate, or as a
// Poisson process (exponential gaps) from a fixed seed, so two runs offer exactly the same load.
// Latency is measured from these intended times, not from when a request actually left: a server
// that stalls is charged for every request that should have gone out meanwhile (no coordinated
// omission, as in wrk2).
#include <cstdint>
#include <string>

namespace fwbench::loadgen {

class ArrivalSchedule {
 public:
  enum class Kind { kConstant, kPoisson };

  // `rate_per_s` > 0; throws std::invalid_argument otherwise.
  ArrivalSchedule(Kind kind, double rate_per_s, std::uint64_t seed);

  // Intended send time of the next request, in ns after the start (0 for the first constant
  // arrival; the first Poisson gap otherwise). Strictly increasing for kConstant, non-decreasing
  // for kPoisson.
  std::int64_t Next();

  Kind kind() const { return kind_; }
  double rate_per_s() const { return rate_; }

 private:
  double UniformOpen();  // (0, 1), splitmix64

  Kind kind_;
  double rate_;
  std::uint64_t state_;
  std::int64_t index_ = 0;
  double t_ns_ = 0.0;
};

}  // namespace fwbench::loadgen
