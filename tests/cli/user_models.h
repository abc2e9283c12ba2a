#pragma once
// The models the user-model tests build themselves at run time (no downloads), with the
// environments install-deps made: ONNX files exported by PyTorch, a package of PyTorch modules,
// and which ONNX runtimes run here.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "run_fwbench.h"
#include "worker_catalogue.h"

namespace fwbench::testing {

// Builds cnn.onnx (a small CNN, dynamic batch) and tokens.onnx (int64 token ids through an
// embedding, dynamic batch and sequence) in `dir` with the PyTorch environment install-deps
// made; empty when it cannot, with `skip` saying why.
inline std::string BuildModels(const std::filesystem::path& dir, std::string& skip) {
  const std::filesystem::path python = VenvPython("pytorch");
  if (!std::filesystem::exists(python)) {
    skip = python.string() + " is missing (./scripts/install-deps.sh makes it): no exporter";
    return "";
  }
  const std::filesystem::path script = dir / "build_models.py";
  std::ofstream(script) << R"(import sys, warnings
warnings.filterwarnings("ignore")
import torch
torch.manual_seed(0)
out = sys.argv[1]
cnn = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                          torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                          torch.nn.Linear(8, 5)).eval()
torch.onnx.export(cnn, torch.randn(1, 3, 16, 16), out + "/cnn.onnx", input_names=["pixels"],
                  output_names=["scores"], dynamic_axes={"pixels": {0: "batch"}},
                  opset_version=13, dynamo=False)
class Tokens(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(1000, 16)
        self.head = torch.nn.Linear(16, 3)
    def forward(self, ids):
        return self.head(torch.tanh(self.embed(ids)).mean(1))
torch.onnx.export(Tokens().eval(), torch.randint(0, 1000, (2, 12)), out + "/tokens.onnx",
                  input_names=["ids"], output_names=["logits"],
                  dynamic_axes={"ids": {0: "batch", 1: "seq"}}, opset_version=13, dynamo=False)
print("ok")
)";
  const std::string cmd = python.string() + " " + script.string() + " " + dir.string() + " 2>&1";
  std::string text;
  FILE* pipe = popen(cmd.c_str(), "r");
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) text += buf;
  const int status = pclose(pipe);
  EXPECT_EQ(status, 0) << "the PyTorch environment exists but exporting the test models failed:\n"
                       << text;
  return status == 0 ? dir.string() : "";
}

// The ONNX runtimes that run here (the doctor's catalogue), each checked where install-deps made
// its environment.
inline std::vector<std::string> OnnxRuntimesHere() {
  const nlohmann::json env = Doctor();
  std::vector<std::string> here;
  for (const auto& [backend, mode] :
       {std::pair{"onnxruntime", "optimized"}, std::pair{"openvino", "latency"},
        std::pair{"opencv-dnn", "default"}, std::pair{"onnxruntime-node", "optimized"}}) {
    std::string skip;
    WorkerEntry(env, backend, mode, skip);
    if (skip.empty()) {
      here.emplace_back(backend);
    } else {
      std::cout << backend << " does not run here, left out: " << skip << "\n";
    }
  }
  return here;
}

// Writes models.py (the test's own package of PyTorch modules) into `dir`; false, with `skip`
// saying why, when PyTorch does not run here.
inline bool WriteModules(const std::filesystem::path& dir, std::string& skip) {
  const nlohmann::json env = Doctor();
  WorkerEntry(env, "pytorch", "eager", skip);
  if (!skip.empty()) return false;
  std::ofstream(dir / "models.py") << R"(import torch
import torchvision


def resnet18():
    return torchvision.models.resnet18(weights=None)


class Encoder(torch.nn.Module):
    """A small transformer encoder on token ids: embedding, two encoder layers, mean-pooled head."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(1000, 32)
        layer = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = torch.nn.Linear(32, 5)

    def forward(self, ids):
        return self.head(self.encoder(self.embed(ids)).mean(1))


def encoder():
    return Encoder()


class Eigen(torch.nn.Module):
    """linalg.eigvals: PyTorch runs it, torch.onnx has no ONNX function for it."""

    def forward(self, x):
        return torch.linalg.eigvals(x @ x.transpose(-1, -2)).real


def eigen():
    return Eigen()
)";
  return true;
}

// Writes `script` (Python) to `file` and runs it with `backend`'s environment and `args`; "" when
// it succeeded, else what it printed.
inline std::string RunVenvScript(const std::string& backend, const std::filesystem::path& file,
                                 const std::string& script, const std::string& args) {
  std::ofstream(file) << script;
  const std::filesystem::path log = file.string() + ".log";
  const std::string cmd = VenvPython(backend).string() + " " + file.string() + " " + args + " > " +
                          log.string() + " 2>&1";
  if (std::system(cmd.c_str()) == 0) return "";
  const std::string said = ReadText(log);
  return said.empty() ? "it failed and printed nothing: " + cmd : said;
}

// Python functions the tests' build scripts start with: a seeded Keras CNN on 16×16×3 `pixels`
// (5 outputs) saved as .keras, and a seeded SavedModel of the same input (`scores`, 5 outputs)
// with a serving_default signature.
inline constexpr char kSmallTfModelsPy[] = R"(import sys


def keras_cnn(path):
    import keras
    keras.utils.set_random_seed(0)
    pixels = keras.Input(shape=(16, 16, 3), name="pixels")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(pixels)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(pixels, keras.layers.Dense(5)(x)).save(path)


def saved_model_cnn(path):
    import tensorflow as tf
    tf.random.set_seed(0)

    class Model(tf.Module):
        def __init__(self):
            self.w = tf.Variable(tf.random.normal([16 * 16 * 3, 5]))

        @tf.function(input_signature=[tf.TensorSpec([None, 16, 16, 3], tf.float32,
                                                    name="pixels")])
        def serve(self, pixels):
            return {"scores": tf.matmul(tf.reshape(pixels, [-1, 16 * 16 * 3]), self.w)}

    m = Model()
    tf.saved_model.save(m, path, signatures={"serving_default": m.serve})

)";

}  // namespace fwbench::testing
