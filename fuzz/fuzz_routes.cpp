// Any method and target (split at the first space): a route or a RequestError (400/404/405).
#include <cstdlib>
#include <string_view>

#include "serve/infer_request.h"
#include "serve/routes.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fwbench::serve;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto space = in.find(' ');
  const std::string_view method = in.substr(0, space);
  const std::string_view target = space == std::string_view::npos ? "" : in.substr(space + 1);
  try {
    const Route r = MatchRoute(method, target);
    if (r.model.size() > 128 || r.version.size() > 128) std::abort();
  } catch (const RequestError& e) {
    if (e.status() != 400 && e.status() != 404 && e.status() != 405) std::abort();
  }
  return 0;
}
