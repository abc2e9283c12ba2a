#include "backends/served/served_libtorch.h"

#include <fmt/format.h>

#include <iostream>

#include <torch/script.h>
#include <torch/torch.h>

#include "backends/inference/torchscript_inference.h"
#include "backends/served/aoti_package.h"
#include "backends/trial/trial_common.h"
#include "core/error.h"

namespace fwbench {

namespace {

// Whether the response may send `output`'s values as they lie, kept alive by a reference, instead
// of copying them: only when the forward made it for this call and holds no other reference to
// it (a model may return a buffer of its own and write it again on its next call), and it is
// not a request's input (a model may return its input, and a request's values are freed once it
// is answered).
bool IsOwnedHere(const torch::Tensor& output,
                 const std::vector<const serve::InferRequest*>& requests) {
  if (!output.defined() || !output.has_storage() || output.use_count() != 1 ||
      output.storage().use_count() != 1) {
    return false;
  }
  const auto first = reinterpret_cast<std::uintptr_t>(output.storage().data_ptr().get());
  const std::uintptr_t last = first + output.storage().nbytes();
  for (const auto* r : requests) {
    for (const auto& t : r->inputs) {
      const bool int64 = t.datatype == "INT64";
      const auto begin = int64 ? reinterpret_cast<std::uintptr_t>(t.int64.data())
                               : reinterpret_cast<std::uintptr_t>(t.fp32.data());
      const std::size_t bytes =
          int64 ? t.int64.size() * sizeof(std::int64_t) : t.fp32.size() * sizeof(float);
      if (begin < last && first < begin + bytes) return false;
    }
  }
  return true;
}

// One forward of the batched inputs, returning the model's outputs in order.
using BatchForward = std::function<std::vector<torch::Tensor>(std::vector<torch::Tensor>)>;

class LibtorchModel final : public serve::ServedModel {
 public:
  LibtorchModel(BatchForward forward, serve::ModelConfig config, torch::Device device)
      : forward_(std::move(forward)), config_(std::move(config)), device_(device) {}

  std::vector<std::vector<serve::OutputTensor>> RunBatch(
      const std::vector<const serve::InferRequest*>& requests) override {
    UseProcessComputePool();
    torch::InferenceMode guard;
    std::vector<torch::Tensor> inputs;
    const std::size_t n_inputs = config_.signature.inputs.size();
    for (std::size_t i = 0; i < n_inputs; ++i) {
      std::vector<torch::Tensor> parts;
      for (const auto* r : requests) {
        const serve::InputTensor& t = r->inputs.at(i);
        if (t.datatype == "INT64") {
          parts.push_back(
              torch::from_blob(const_cast<std::int64_t*>(t.int64.data()), t.shape, torch::kInt64));
        } else {
          parts.push_back(
              torch::from_blob(const_cast<float*>(t.fp32.data()), t.shape, torch::kFloat32));
        }
      }
      torch::Tensor batch = parts.size() == 1 ? parts[0] : torch::cat(parts, 0);
      inputs.emplace_back(batch.to(device_));
    }
    const std::vector<torch::Tensor> outputs = forward_(std::move(inputs));
    if (outputs.size() != config_.signature.outputs.size()) {
      throw std::runtime_error(
          fmt::format("forward() returned {} tensors; config.toml lists {} "
                      "outputs",
                      outputs.size(), config_.signature.outputs.size()));
    }
    std::vector<std::vector<serve::OutputTensor>> per_request(requests.size());
    for (std::size_t o = 0; o < outputs.size(); ++o) {
      const bool made_here = IsOwnedHere(outputs[o], requests);
      torch::Tensor out = outputs[o].to(torch::kCPU, torch::kFloat32).contiguous();
      const bool viewable = made_here || !out.is_same(outputs[o]);
      std::int64_t row = 0;
      for (std::size_t r = 0; r < requests.size(); ++r) {
        const std::int64_t rows = requests[r]->BatchSize();
        torch::Tensor part = out.narrow(0, row, rows).contiguous();
        row += rows;
        serve::OutputTensor t;
        t.name = config_.signature.outputs[o].name;
        t.shape = part.sizes().vec();
        const float* values = part.data_ptr<float>();
        const auto count = static_cast<std::size_t>(part.numel());
        if (viewable) {
          t.fp32 = serve::TensorValues<float>::View(
              values, count, std::make_shared<torch::Tensor>(std::move(part)));
        } else {
          t.fp32.assign(values, values + count);
        }
        per_request[r].push_back(std::move(t));
      }
      if (row != out.size(0)) {
        throw std::runtime_error(fmt::format("output '{}' has {} rows for a batch of {}",
                                             config_.signature.outputs[o].name, out.size(0), row));
      }
    }
    return per_request;
  }

 private:
  BatchForward forward_;
  serve::ModelConfig config_;
  torch::Device device_;
};

}  // namespace

std::shared_ptr<serve::ServedModel> LoadServedTorchScript(const std::filesystem::path& file,
                                                          const serve::ModelConfig& config,
                                                          const std::string& device) {
  const torch::Device d = ResolveDevice(device);
  auto inference = std::make_shared<TorchScriptInference>(TorchScriptInference::Load(file, d));
  std::cerr << fmt::format("serve: {} runs {}\n", file.string(), inference->executor());
  const BatchForward forward = [inference](std::vector<torch::Tensor> batch) {
    return inference->Run(batch);
  };
  return std::make_shared<LibtorchModel>(forward, config, d);
}

std::shared_ptr<serve::ServedModel> LoadServedAotiPackage(const std::filesystem::path& file,
                                                          const serve::ModelConfig& config,
                                                          const std::string& device) {
  const torch::Device d = ResolveDevice(device);
  if (!d.is_cpu()) {
    throw UsageError(
        fmt::format("{}: fwbench serves AOTInductor packages on the CPU only "
                    "(--device cpu); a CUDA package is compiled for its GPU",
                    file.string()));
  }
  auto package = std::make_shared<AotiPackage>(file);
  const BatchForward forward = [package](std::vector<torch::Tensor> batch) {
    return package->Run(batch);
  };
  return std::make_shared<LibtorchModel>(forward, config, d);
}

}  // namespace fwbench
