#pragma once
// LibTorch's dx port (`fwbench dx`, docs/dx.md): the dx model (two Linear layers, `hidden` and
// `classifier`) as a torch::nn::Module, trained with torch::optim::SGD on torch::data batches,
// one injected fault per process. It speaks what every dx port speaks (dx_hello, dx_start,
// dx_step, dx_end on stdout) and leaves the framework's words, e.what() as a C++ program that
// catches it prints, in the request's error file.
#include "core/dx_request.h"

namespace fwbench {

// Runs `request`'s fault; returns the exit code (0 whatever the fault did).
int RunLibtorchDx(const DxRequest& request);

}  // namespace fwbench
