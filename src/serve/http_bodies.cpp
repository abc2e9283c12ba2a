#include "serve/http_bodies.h"

namespace fwbench::serve {

std::size_t AlignedBodyOffset(std::string_view json_length) {
  // Anything but a byte count is refused later, with a message (inference_service.cpp).
  if (json_length.empty() || json_length.size() > 19) return 0;
  std::uint64_t n = 0;
  for (const char c : json_length) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return static_cast<std::size_t>((kTensorAlignment - n % kTensorAlignment) % kTensorAlignment);
}

}  // namespace fwbench::serve
