#include "serve/http_bodies.h"

#include "serve/infer_request.h"

namespace fwbench::serve {

std::size_t AlignedBodyOffset(std::string_view json_length) {
  // Anything but a byte count is refused later, with a message (inference_service.cpp).
  const std::size_t n = ParseByteCount(json_length).value_or(0);
  return (kTensorAlignment - n % kTensorAlignment) % kTensorAlignment;
}

}  // namespace fwbench::serve
