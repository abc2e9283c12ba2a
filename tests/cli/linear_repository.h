#pragma once
// A model repository with one small known model, for tests of `fwbench serve` as a user runs it.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace fwbench::testing {

// A repository in `dir` holding the same Linear(4, 2) as TorchScript ("ts") and as ONNX ("ox"),
// written by Debian's python3-torch; empty when it could, else why not.
inline std::string WriteLinearRepository(const std::filesystem::path& dir) {
  const std::string script = R"(
import sys, torch
m = torch.nn.Linear(4, 2)
with torch.no_grad():
    m.weight.copy_(torch.tensor([[1., 2., 3., 4.], [0., 0., 0., 1.]]))
    m.bias.copy_(torch.tensor([0.5, -1.]))
root = sys.argv[1]
torch.jit.trace(m, torch.zeros(1, 4)).save(root + '/ts/1/model.pt')
torch.onnx.export(m, torch.zeros(1, 4), root + '/ox/1/model.onnx', input_names=['x'],
                  output_names=['y'], dynamic_axes={'x': {0: 'n'}, 'y': {0: 'n'}}, opset_version=13)
)";
  for (const char* name : {"ts", "ox"}) std::filesystem::create_directories(dir / name / "1");
  std::ofstream(dir / "make.py") << script;
  const std::string config =
      "[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [-1, 4]\n"
      "[[outputs]]\nname = \"y\"\ndatatype = \"FP32\"\nshape = [-1, 2]\n"
      "[batching]\nmax_batch_size = 4\nmax_queue_delay_us = 20000\n";
  std::ofstream(dir / "ts" / "config.toml") << config;
  std::ofstream(dir / "ox" / "config.toml") << "platform = \"onnx\"\n" << config;
  const std::string make = "/usr/bin/python3 " + (dir / "make.py").string() + " " + dir.string() +
                           " > " + (dir / "make.log").string() + " 2>&1";
  if (std::system(make.c_str()) == 0) return "";
  std::ifstream log(dir / "make.log");
  return "Debian's python3 with torch and onnx could not write the models: " +
         std::string(std::istreambuf_iterator<char>(log), {});
}

}  // namespace fwbench::testing
