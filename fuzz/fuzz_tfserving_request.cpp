// Any bytes as a TF Serving predict body: a consistent request or a RequestError, nothing else.
#include <cstdlib>
#include <string_view>

#include "fuzz_signature.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fwbench::serve;
  if (size == 0) return 0;
  const ModelSignature& sig = (data[0] & 1) ? fuzz::TwoInputs() : fuzz::OneInput();
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    const InferRequest r = ParseTfServingRequest(body, sig);
    if (r.inputs.size() != sig.inputs.size()) std::abort();
  } catch (const RequestError& e) {
    if (e.status() < 400 || e.status() > 599) std::abort();
  }
  return 0;
}
