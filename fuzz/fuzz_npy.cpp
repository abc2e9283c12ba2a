// Any bytes as a .npy file (a user's --input-file): an array whose data fits its shape and dtype,
// or a UsageError; nothing else.
#include <cstdlib>
#include <string_view>

#include "core/error.h"
#include "data/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const fwbench::npy::Array a =
        fwbench::npy::Parse(std::string_view(reinterpret_cast<const char*>(data), size), "f.npy");
    std::size_t count = 1;
    for (std::int64_t d : a.shape) count *= static_cast<std::size_t>(d);
    if (a.data.size() != count * (a.dtype == "int64" ? 8 : 4)) std::abort();
  } catch (const fwbench::UsageError&) {
  }
  return 0;
}
