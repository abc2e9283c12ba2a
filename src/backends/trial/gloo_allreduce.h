#pragma once
// Gradient averaging for LibTorch C++ data-parallel training (task train_ddp): c10d's Gloo
// process group, the one PyTorch's DistributedDataParallel uses on the CPU, reached from C++.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

namespace fwbench {

// Where a rank is and whom it meets, from the environment `fwbench ddp-launch` sets
// (docs/protocol.md, "Data-parallel training").
struct DdpPeers {
  int rank = 0;
  int world = 1;
  std::vector<std::string> addrs;  // "ip:port" per rank; rank 0's is the rendezvous
  std::string ifname;              // the interface every rank's Gloo binds to
};
// Throws UsageError naming the variable when the environment does not describe `world` ranks.
DdpPeers DdpPeersFromEnvironment(int world);

// Empty when this LibTorch can average gradients across processes; otherwise why not.
std::string GlooUnavailableReason();

class GlooAllreduce {
 public:
  // Meets every rank (rank 0 serves the rendezvous store); waits at most `timeout` for them.
  GlooAllreduce(const DdpPeers& peers, std::chrono::seconds timeout);
  ~GlooAllreduce();
  GlooAllreduce(const GlooAllreduce&) = delete;
  GlooAllreduce& operator=(const GlooAllreduce&) = delete;

  // Every gradient replaced by its mean over the ranks: one flat buffer, one allreduce (DDP
  // buckets and overlaps them with the backward pass; here the backward pass is done first).
  void AverageGradients(const std::vector<torch::Tensor>& parameters);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fwbench
