#pragma once
// The serving peers `fwbench deploy` measures beside fwbench serve and the FastAPI baseline:
// TorchServe (PyPI torchserve and torch-model-archiver 0.12.0 in .venvs/torch, Debian's OpenJDK
// 17 for its frontend) serving the same TorchScript file through fwbench's tensor handler
// (tools/torchserve_baseline/tensor_handler.py), started offline on loopback; and TF Serving,
// whose binary no registry these machines reach serves (its row says so).
#include <filesystem>
#include <string>

#include "cli/deploy_target.h"
#include "deploy/endpoint_measure.h"

namespace fwbench::cli {

inline constexpr char kTorchServeName[] = "torchserve (batching)";
inline constexpr char kTfServingName[] = "tf serving";

struct PeerLaunch {
  deploy::ServerLaunch launch;
  std::string refusal;  // non-empty: not run, and why
};

// Archives the target's TorchScript file with the tensor handler (timed: a step) and writes
// TorchServe's config under run_dir/torchserve: one worker with `threads` compute threads,
// batching as fwbench serve's (batchSize = max_batch_size, maxBatchDelay = the queue delay),
// token authorization off, loopback addresses.
PeerLaunch PrepareTorchServe(const DeployTarget& target, const DeployArgs& args, int threads,
                             const std::filesystem::path& self,
                             const std::filesystem::path& run_dir);

// Why TF Serving has no measured row.
std::string TfServingRefusal();

}  // namespace fwbench::cli
