#include "backends/served/serve_threads.h"

#include <fmt/format.h>

#include <opencv2/core.hpp>

#include "backends/trial/libtorch_threads.h"

namespace fwbench {

std::vector<protocol::ThreadPool> ConfigureServeThreads(int threads) {
  std::vector<protocol::ThreadPool> pools = ConfigureLibtorchThreads(threads);
  cv::setNumThreads(threads);
  pools.push_back({.name = "OpenCV (cv::getNumThreads)",
                   .role = "compute",
                   .set = threads,
                   .read = cv::getNumThreads()});
  return pools;
}

std::string DescribePools(const std::vector<protocol::ThreadPool>& pools) {
  std::string text;
  for (const auto& p : pools) {
    if (!text.empty()) text += ", ";
    text += fmt::format("{} {}", p.name, p.read);
    if (p.read != p.set) text += fmt::format(" (asked for {})", p.set);
  }
  return text;
}

}  // namespace fwbench
