#include "backends/trial/gloo_allreduce.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <new>

#include "core/error.h"

#if defined(FWBENCH_HAVE_GLOO_DDP)
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

// The PyTorch wheel ships c10d's ProcessGroupGloo.hpp but not the gloo headers it includes, so
// the header cannot be compiled. Its constructor and Options::create_default are exported from
// libtorch_cpu; they are declared here as the header declares them (the pinned wheel's), and
// everything else goes through c10d::Backend, whose header is complete.
namespace gloo::transport {
class Device;
}
namespace c10d {
class ProcessGroupGloo : public Backend {
 public:
  struct TORCH_API Options : public Backend::Options {
    static c10::intrusive_ptr<Options> create_default(std::chrono::milliseconds timeout);
    std::vector<std::shared_ptr<::gloo::transport::Device>> devices;
    int threads{2};
  };
  ProcessGroupGloo(const c10::intrusive_ptr<Store>& store, int rank, int size,
                   c10::intrusive_ptr<Options> options);
};
}  // namespace c10d
#endif

namespace fwbench {

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

std::pair<std::string, int> SplitAddr(const std::string& addr) {
  const auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0) return {"", 0};
  try {
    return {addr.substr(0, colon), std::stoi(addr.substr(colon + 1))};
  } catch (const std::exception&) {
    return {"", 0};
  }
}

}  // namespace

DdpPeers DdpPeersFromEnvironment(int world) {
  constexpr const char* kHow = "run train_ddp trials through `fwbench run` or `fwbench ddp-launch`";
  DdpPeers p;
  p.world = world;
  const std::string rank = Env("FWBENCH_DDP_RANK");
  try {
    std::size_t used = 0;
    p.rank = std::stoi(rank, &used);
    if (used != rank.size()) throw std::invalid_argument(rank);
  } catch (const std::exception&) {
    throw UsageError(fmt::format("FWBENCH_DDP_RANK is '{}', not a rank number; {}", rank, kHow));
  }
  if (p.rank < 0 || p.rank >= world) {
    throw UsageError(fmt::format("FWBENCH_DDP_RANK {} is outside 0..{} (spec ddp.processes {})",
                                 p.rank, world - 1, world));
  }
  const std::string addrs = Env("FWBENCH_DDP_ADDRS");
  std::size_t start = 0;
  while (start <= addrs.size() && !addrs.empty()) {
    const auto comma = addrs.find(',', start);
    p.addrs.push_back(addrs.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (static_cast<int>(p.addrs.size()) != world) {
    throw UsageError(fmt::format("FWBENCH_DDP_ADDRS names {} rank addresses, not {}: '{}'; {}",
                                 p.addrs.size(), world, addrs, kHow));
  }
  for (const std::string& a : p.addrs) {
    if (SplitAddr(a).second <= 0) {
      throw UsageError(fmt::format("FWBENCH_DDP_ADDRS: '{}' is not IP:PORT", a));
    }
  }
  p.ifname = Env("FWBENCH_DDP_IFNAME");
  return p;
}

#if defined(FWBENCH_HAVE_GLOO_DDP)

std::string GlooUnavailableReason() { return ""; }

struct GlooAllreduce::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10d::Backend* group = nullptr;  // never destroyed: see ~GlooAllreduce
  int world = 1;
};

GlooAllreduce::GlooAllreduce(const DdpPeers& peers, std::chrono::seconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->world = peers.world;
  const auto [host, port] = SplitAddr(peers.addrs.at(0));
  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<std::uint16_t>(port);
  store_options.isServer = peers.rank == 0;
  store_options.numWorkers = peers.world;
  store_options.waitWorkers = true;
  store_options.timeout = timeout;
  impl_->store = c10::make_intrusive<c10d::TCPStore>(host, store_options);
  // create_default binds the interface GLOO_SOCKET_IFNAME names (ddp-launch sets it).
  auto options = c10d::ProcessGroupGloo::Options::create_default(timeout);
  // The class is only declared here, so its size is unknown: the constructor runs in storage
  // far larger than the wheel's object (a few hundred bytes).
  constexpr std::size_t kRoom = 64 * 1024;
  void* room = ::operator new(kRoom);
  impl_->group =
      new (room) c10d::ProcessGroupGloo(impl_->store, peers.rank, peers.world, std::move(options));
}

// The process group's threads and sockets end with the trial process, which ends with _Exit:
// destroying an object of a size this file does not know would be the riskier choice.
GlooAllreduce::~GlooAllreduce() = default;

void GlooAllreduce::AverageGradients(const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> grads;
  grads.reserve(parameters.size());
  for (const torch::Tensor& p : parameters) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return;
  std::vector<torch::Tensor> flat = {torch::cat(
      [&] {
        std::vector<torch::Tensor> views;
        views.reserve(grads.size());
        for (const torch::Tensor& g : grads) views.push_back(g.reshape({-1}));
        return views;
      }(),
      0)};
  impl_->group->allreduce(flat, c10d::AllreduceOptions())->wait();
  flat[0].div_(impl_->world);
  std::int64_t offset = 0;
  for (torch::Tensor& g : grads) {
    const std::int64_t n = g.numel();
    g.copy_(flat[0].narrow(0, offset, n).view_as(g));
    offset += n;
  }
}

#else

std::string GlooUnavailableReason() {
  return "this fwbench was built against a LibTorch without c10d's Gloo process group (the "
         "pinned PyTorch wheel's LibTorch has it: scripts/install-deps.sh, then a rebuild)";
}

struct GlooAllreduce::Impl {};
GlooAllreduce::GlooAllreduce(const DdpPeers&, std::chrono::seconds) {
  throw UsageError(GlooUnavailableReason());
}
GlooAllreduce::~GlooAllreduce() = default;
void GlooAllreduce::AverageGradients(const std::vector<torch::Tensor>&) {}

#endif

}  // namespace fwbench
