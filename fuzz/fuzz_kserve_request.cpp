// Any bytes as a KServe v2 infer body (the first byte picks the signature and whether a binary
// header length is given): the parser either returns a request consistent with the signature or
// throws RequestError with a 4xx/5xx status. Anything else (another exception, a crash, a
// sanitizer report) is a bug.
#include <cstdlib>
#include <string_view>

#include "fuzz_signature.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fwbench::serve;
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  const ModelSignature& sig = (mode & 1) ? fuzz::TwoInputs() : fuzz::OneInput();
  std::optional<std::size_t> json_length;
  if (mode & 2) json_length = (mode >> 2) * 4 < body.size() ? body.size() - (mode >> 2) * 4 : 0;
  try {
    const InferRequest r = ParseKserveV2Request(body, sig, json_length);
    if (r.inputs.size() != sig.inputs.size()) std::abort();
    for (std::size_t i = 0; i < r.inputs.size(); ++i) {
      std::int64_t n = 1;
      for (const auto d : r.inputs[i].shape) n *= d;
      const std::size_t have =
          r.inputs[i].datatype == "INT64" ? r.inputs[i].int64.size() : r.inputs[i].fp32.size();
      if (static_cast<std::size_t>(n) != have) std::abort();
    }
  } catch (const RequestError& e) {
    if (e.status() < 400 || e.status() > 599) std::abort();
  }
  return 0;
}
