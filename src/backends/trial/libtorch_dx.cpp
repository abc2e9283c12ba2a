#include "backends/trial/libtorch_dx.h"

#include <cxxabi.h>
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <utility>

#include <nlohmann/json.hpp>

#include "backends/trial/libtorch_threads.h"
#include "core/clock.h"

namespace fwbench {

namespace {

// The numbers of workers/python/fwbench_workers/dx.py, which every port shares.
constexpr std::int64_t kSamples = 64, kFeatures = 3072, kHidden = 64, kClasses = 10, kBatch = 16;
constexpr std::int64_t kMaxSteps = 100, kWrongInFeatures = 60, kBadSample = 37;
constexpr std::int64_t kBadFeatures = 3071;
constexpr double kLr = 0.05, kExplodingLr = kLr * 1e4;

struct MlpImpl : torch::nn::Module {
  explicit MlpImpl(std::int64_t classifier_in)
      : hidden(register_module("hidden", torch::nn::Linear(kFeatures, kHidden))),
        classifier(register_module("classifier", torch::nn::Linear(classifier_in, kClasses))) {}
  torch::Tensor forward(const torch::Tensor& x) { return classifier(torch::relu(hidden(x))); }
  torch::nn::Linear hidden, classifier;
};
TORCH_MODULE(Mlp);

torch::Tensor Formula(std::int64_t rows, std::int64_t cols,
                      const std::function<double(std::int64_t, std::int64_t)>& f) {
  torch::Tensor t = torch::empty({rows, cols}, torch::kFloat32);
  auto a = t.accessor<float, 2>();
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) a[r][c] = static_cast<float>(f(r, c));
  }
  return t;
}

Mlp Model(std::int64_t classifier_in = kHidden) {
  Mlp model(classifier_in);
  if (classifier_in != kHidden) return model;
  torch::NoGradGuard no_grad;
  model->hidden->weight.copy_(Formula(kHidden, kFeatures, [](auto o, auto i) {
    return 0.02 * std::sin(0.37 * static_cast<double>(o) + 0.11 * static_cast<double>(i) + 1.0);
  }));
  model->hidden->bias.zero_();
  model->classifier->weight.copy_(Formula(kClasses, kHidden, [](auto o, auto i) {
    return 0.1 * std::cos(0.23 * static_cast<double>(o) + 0.51 * static_cast<double>(i));
  }));
  model->classifier->bias.zero_();
  return model;
}

torch::Tensor Sample(std::int64_t n, std::int64_t features = kFeatures) {
  return Formula(1, features,
                 [n](auto, auto k) {
                   return 0.5 * std::sin(0.013 * static_cast<double>(n * kFeatures + k) + 0.7);
                 })
      .squeeze(0);
}

std::pair<torch::Tensor, torch::Tensor> Batch(std::int64_t step) {
  std::vector<torch::Tensor> xs;
  std::vector<std::int64_t> ys;
  for (std::int64_t j = 0; j < kBatch; ++j) {
    const std::int64_t n = (step * kBatch + j) % kSamples;
    xs.push_back(Sample(n));
    ys.push_back(n % kClasses);
  }
  return {torch::stack(xs), torch::tensor(ys)};
}

// This loop's own check, not LibTorch's: the loss is not finite.
struct NonFinite : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Events {
 public:
  // A private duplicate of fd 1: during the fault, fds 1 and 2 lead to the error file.
  Events() : out_(fdopen(dup(1), "w")) {}
  void Write(const nlohmann::json& event) {
    std::fputs((event.dump() + "\n").c_str(), out_);
    std::fflush(out_);
  }

 private:
  std::FILE* out_;
};

class Window {
 public:
  explicit Window(Events& events) : events_(events) {}
  void Step(std::int64_t i, double loss) {
    const bool finite = std::isfinite(loss);
    events_.Write({{"event", "dx_step"},
                   {"i", i},
                   {"loss", finite ? nlohmann::json(loss) : nlohmann::json()},
                   {"finite", finite}});
    ++steps_;
    if (!finite) throw NonFinite(fmt::format("loss is {} after step {}", loss, i));
  }
  std::int64_t steps() const { return steps_; }

 private:
  Events& events_;
  std::int64_t steps_ = 0;
};

using Batches = std::function<std::pair<torch::Tensor, torch::Tensor>(std::int64_t)>;

void Train(Mlp& model, double lr, const Batches& batches, std::int64_t steps, Window& w) {
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(lr));
  for (std::int64_t i = 0; i < steps; ++i) {
    auto [x, y] = batches(i);
    opt.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    opt.step();
    w.Step(i, loss.item<double>());
  }
}

struct Samples : torch::data::datasets::Dataset<Samples> {
  torch::data::Example<> get(std::size_t n) override {
    const auto i = static_cast<std::int64_t>(n);
    return {Sample(i, i == kBadSample ? kBadFeatures : kFeatures), torch::tensor(i % kClasses)};
  }
  torch::optional<std::size_t> size() const override { return kSamples; }
};

std::string RunFault(const std::string& fault, Window& w) {
  if (fault == "shape_mismatch") {
    Mlp model = Model(kWrongInFeatures);
    Train(model, kLr, Batch, 4, w);
    return "trained";
  }
  if (fault == "exploding_loss" || fault == "exploding_loss_checked") {
    std::optional<torch::autograd::DetectAnomalyGuard> checked;
    if (fault == "exploding_loss_checked") checked.emplace();
    Mlp model = Model();
    Train(model, kExplodingLr, Batch, kMaxSteps, w);
    return fmt::format("the loss stayed finite for {} steps", kMaxSteps);
  }
  if (fault == "bad_batch") {
    auto loader = torch::data::make_data_loader<torch::data::samplers::SequentialSampler>(
        Samples().map(torch::data::transforms::Stack<>()),
        torch::data::DataLoaderOptions().batch_size(kBatch));
    Mlp model = Model();
    torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(kLr));
    std::int64_t i = 0;
    for (auto& batch : *loader) {
      opt.zero_grad();
      torch::Tensor loss =
          torch::nn::functional::cross_entropy(model->forward(batch.data), batch.target);
      loss.backward();
      opt.step();
      w.Step(i++, loss.item<double>());
    }
    return "every batch trained";
  }
  if (fault == "wrong_dtype") {
    Mlp model = Model();
    model->eval();
    torch::NoGradGuard no_grad;
    const torch::Tensor pixels = torch::round((Batch(0).first + 0.5) * 255.0).to(torch::kUInt8);
    const torch::Tensor out = model->forward(pixels);
    return fmt::format("inference ran on the uint8 pixels: logits [{}]",
                       fmt::join(out.sizes(), ", "));
  }
  throw std::logic_error("no LibTorch case for fault " + fault);
}

std::string TypeName(const std::exception& e) {
  int status = 0;
  const std::unique_ptr<char, void (*)(void*)> name(
      abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status), std::free);
  return status == 0 && name ? name.get() : typeid(e).name();
}

std::string NotApplicable(const DxRequest& r) {
  if (r.mode != "eager") return "the LibTorch dx port runs mode eager, not " + r.mode;
  if (r.fault == "export_unsupported") {
    return "LibTorch (C++) exports nothing: a LibTorch model is exported from PyTorch (see the "
           "pytorch rows)";
  }
  return "";
}

}  // namespace

int RunLibtorchDx(const DxRequest& request) {
  Events events;
  events.Write({{"event", "dx_hello"},
                {"framework", "LibTorch"},
                {"version", TORCH_VERSION},
                {"language", "c++"},
                {"mode", request.mode},
                {"threads", request.threads},
                {"port_file", __FILE__}});
  if (const std::string reason = NotApplicable(request); !reason.empty()) {
    events.Write({{"event", "dx_end"}, {"outcome", "n/a"}, {"reason", reason}});
    return 0;
  }
  const nlohmann::json pools = protocol::ToJson(ConfigureLibtorchThreads(request.threads));
  Window w(events);
  std::fflush(stdout);
  std::fflush(stderr);
  const int saved_out = dup(1), saved_err = dup(2);
  const int file =
      open(request.error_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (file < 0) throw std::runtime_error("cannot write " + request.error_file.string());
  dup2(file, 1);
  dup2(file, 2);
  close(file);
  nlohmann::json end;
  const std::int64_t t0 = MonotonicNs();
  events.Write({{"event", "dx_start"}, {"t", t0}, {"pools", pools}});
  try {
    const std::string note = RunFault(request.fault, w);
    end = {{"outcome", "silent"}, {"t", MonotonicNs()}, {"note", note}};
  } catch (const NonFinite& e) {
    end = {{"outcome", "loop"}, {"t", MonotonicNs()}, {"message", e.what()}};
  } catch (const std::exception& e) {
    const std::int64_t t1 = MonotonicNs();
    // Where the error's own text starts, after what LibTorch printed before it.
    std::fflush(stderr);
    std::error_code ec;
    const auto offset = std::filesystem::file_size(request.error_file, ec);
    // What a C++ program that catches it prints: what().
    std::fprintf(stderr, "%s\n", e.what());
    end = {{"outcome", "error"},
           {"t", t1},
           {"exception", TypeName(e)},
           {"error_offset", ec ? 0 : offset}};
  }
  std::fflush(stdout);
  std::fflush(stderr);
  dup2(saved_out, 1);
  dup2(saved_err, 2);
  close(saved_out);
  close(saved_err);
  end["event"] = "dx_end";
  end["steps"] = w.steps();
  events.Write(end);
  return 0;
}

}  // namespace fwbench
