// Parity with torchvision: tests/torch/torchvision_export.py builds torchvision's resnet18 and
// resnet50 (random weights, perturbed BatchNorm statistics, eval mode), saves the state_dict, a
// fixed input and torchvision's logits as .safetensors; here the state_dict is loaded strictly
// into our ResNet and the logits must agree to 1e-4. Skips (never passes) when /usr/bin/python3
// cannot import torch and torchvision.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "data/safetensors.h"
#include "models/resnet.h"
#include "models/weights.h"

namespace fwbench::models {
namespace {

namespace fs = std::filesystem;
namespace st = fwbench::safetensors;

// The interpreter with torch + torchvision; FWBENCH_PYTHON overrides it (e.g. to check the
// skip path with an interpreter that lacks torch).
std::string Python() {
  const char* env = std::getenv("FWBENCH_PYTHON");
  return env != nullptr && *env != '\0' ? env : "/usr/bin/python3";
}
constexpr double kTolerance = 1e-4;

// One folder per test process (ctest runs each test in its own process, maybe in parallel),
// removed when the process exits.
struct ExportDir {
  fs::path path =
      fs::temp_directory_path() / ("fwbench_torchvision_parity_" + std::to_string(::getpid()));
  ExportDir() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~ExportDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

struct Export {
  fs::path dir;
  std::string skip_reason;  // non-empty: torch/torchvision not available
  std::string failure;      // non-empty: the export script failed
};

// Runs the export script for one part ("resnet18", "resnet50" or "names"), once per process.
const Export& GetExport(const std::string& part) {
  static ExportDir dir;
  static std::map<std::string, Export> cache;
  if (const auto it = cache.find(part); it != cache.end()) return it->second;
  Export& e = cache[part];
  e.dir = dir.path;
  const std::string python = Python();
  if (python.find('/') != std::string::npos && !fs::exists(python)) {
    e.skip_reason =
        python + " does not exist; torchvision parity needs it with torch and torchvision";
    return e;
  }
  const fs::path script = fs::path(FWBENCH_TEST_DIR) / "torch" / "torchvision_export.py";
  const fs::path log = dir.path / ("export_" + part + ".log");
  const std::string command = "'" + python + "' '" + script.string() + "' '" + dir.path.string() +
                              "' --parts " + part + " > '" + log.string() + "' 2>&1";
  const auto start = std::chrono::steady_clock::now();
  const int status = std::system(command.c_str());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::ifstream in(log);
  const std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::cout << "[ export   ] " << command << " (" << seconds << " s)\n" << output;
  const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (rc == 3) {
    e.skip_reason = python +
                    " cannot import torch and torchvision (install python3-torch and "
                    "python3-torchvision); torchvision parity NOT checked:\n" +
                    output;
  } else if (rc == 127) {
    e.skip_reason = python + " cannot be run; torchvision parity NOT checked:\n" + output;
  } else if (rc != 0) {
    e.failure = "export script failed (status " + std::to_string(status) + "):\n" + output;
  }
  return e;
}

#define REQUIRE_EXPORT(part)                \
  const Export& exported = GetExport(part); \
  if (!exported.skip_reason.empty()) {      \
    GTEST_SKIP() << exported.skip_reason;   \
  }                                         \
  ASSERT_TRUE(exported.failure.empty()) << exported.failure

torch::Tensor ReadTensor(const st::File& file, const std::string& name) {
  const st::TensorInfo* info = file.Find(name);
  if (info == nullptr) throw std::runtime_error(name + " missing in " + file.path().string());
  const auto values = st::ToFloat32(file, *info);
  return torch::tensor(values).reshape(info->shape);
}

void CheckParity(const std::string& arch) {
  REQUIRE_EXPORT(arch);
  ResNet net = MakeResNet({arch, "imagenet", 1000});
  LoadStateDict(*net, exported.dir / (arch + "_weights.safetensors"));
  net->eval();

  const st::File io = st::File::Read(exported.dir / (arch + "_io.safetensors"));
  const torch::Tensor input = ReadTensor(io, "input");
  const torch::Tensor expected = ReadTensor(io, "logits");
  torch::NoGradGuard no_grad;
  const torch::Tensor logits = net->forward(input);
  ASSERT_EQ(logits.sizes(), expected.sizes());
  const double max_diff = (logits - expected).abs().max().item<double>();
  const double max_abs = expected.abs().max().item<double>();
  std::cout << "[ parity   ] " << arch << " input " << input.sizes()
            << ": max |logit diff| = " << max_diff << " (max |logit| " << max_abs << ", tolerance "
            << kTolerance << ")\n";
  EXPECT_LE(max_diff, kTolerance);
  EXPECT_TRUE(torch::equal(logits.argmax(1), expected.argmax(1)));
}

TEST(TorchvisionParity, ResNet50Logits) { CheckParity("resnet50"); }

TEST(TorchvisionParity, ResNet18Logits) { CheckParity("resnet18"); }

// Every state_dict key and shape of torchvision's five ResNets, parameters and buffers.
TEST(TorchvisionParity, StateDictNamesAndShapesOfAllArchs) {
  REQUIRE_EXPORT("names");
  std::ifstream in(exported.dir / "names.json");
  const auto names = nlohmann::json::parse(in);
  for (const auto& arch : ResNetArchs()) {
    SCOPED_TRACE(arch);
    ASSERT_TRUE(names.contains(arch));
    const auto& expected = names.at(arch);
    ResNet net = MakeResNet({arch, "imagenet", 1000});
    std::map<std::string, std::vector<std::int64_t>> ours;
    for (const auto& p : net->named_parameters()) ours[p.key()] = p.value().sizes().vec();
    for (const auto& b : net->named_buffers()) ours[b.key()] = b.value().sizes().vec();
    EXPECT_EQ(ours.size(), expected.size());
    for (const auto& [name, shape] : expected.items()) {
      const auto it = ours.find(name);
      if (it == ours.end()) {
        ADD_FAILURE() << "missing " << name;
        continue;
      }
      EXPECT_EQ(it->second, shape.get<std::vector<std::int64_t>>()) << name;
    }
  }
}

}  // namespace
}  // namespace fwbench::models
