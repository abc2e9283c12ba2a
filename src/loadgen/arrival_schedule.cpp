#include "loadgen/arrival_schedule.h"

#include <cmath>
#include <stdexcept>

namespace fwbench::loadgen {

ArrivalSchedule::ArrivalSchedule(Kind kind, double rate_per_s, std::uint64_t seed)
    : kind_(kind), rate_(rate_per_s), state_(seed) {
  if (!(rate_per_s > 0.0) || !std::isfinite(rate_per_s)) {
    throw std::invalid_argument(
        "the arrival rate must be a positive number of requests per second");
  }
}

double ArrivalSchedule::UniformOpen() {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  // 53 random bits, shifted off zero: (0, 1).
  return (static_cast<double>(z >> 11) + 0.5) * 0x1.0p-53;
}

std::int64_t ArrivalSchedule::Next() {
  const double gap_ns = 1e9 / rate_;
  if (kind_ == Kind::kConstant) {
    // From the index, not by summing gaps: no drift over millions of requests.
    return static_cast<std::int64_t>(std::llround(static_cast<double>(index_++) * gap_ns));
  }
  t_ns_ += -std::log(UniformOpen()) * gap_ns;
  ++index_;
  return static_cast<std::int64_t>(std::llround(t_ns_));
}

}  // namespace fwbench::loadgen
