#include "backends/trial/torchscript_compile.h"

#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/passes/fixup_trace_scope_blocks.h>
#include <torch/csrc/jit/passes/normalize_ops.h>
#include <torch/csrc/jit/passes/tensorexpr_fuser.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include <map>
#include <sstream>

#include "core/atomic_file.h"

namespace torch::jit {
// Exported by libtorch_cpu but its header (codegen/fuser/interface.h) is not installed by every
// distribution (Debian's libtorch-dev lacks it).
TORCH_API bool canFuseOnCPU();
}  // namespace torch::jit

namespace fwbench {

namespace {

// The tracer reports values it had to freeze (a tensor read back into C++, e.g. for an `if`)
// through this hook; such a warning means the graph may only be right for the example.
std::vector<std::string>& TracerWarnings() {
  static std::vector<std::string> warnings;
  return warnings;
}
void CollectTracerWarning(const std::string& message) { TracerWarnings().push_back(message); }

// "fwbench::models::BasicBlockImpl" -> "BasicBlock": a valid TorchScript class name.
std::string ClassName(const torch::nn::Module& module) {
  std::string name = module.name();
  if (const auto colon = name.rfind("::"); colon != std::string::npos) name.erase(0, colon + 2);
  if (name.size() > 4 && name.ends_with("Impl")) name.resize(name.size() - 4);
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name.empty() ? std::string("Module") : name;
}

// Mirrors the module tree as TorchScript modules holding the same tensors (not copies).
torch::jit::Module Mirror(const torch::nn::Module& module,
                          const std::shared_ptr<torch::jit::CompilationUnit>& unit) {
  // Class names must be unique in the unit; shouldMangle makes repeated block types unique.
  torch::jit::Module mirror(c10::QualifiedName("__torch__.fwbench." + ClassName(module)), unit,
                            /*shouldMangle=*/true);
  mirror.register_attribute("training", c10::BoolType::get(), module.is_training());
  for (const auto& p : module.named_parameters(/*recurse=*/false)) {
    mirror.register_parameter(p.key(), p.value(), /*is_buffer=*/false);
  }
  for (const auto& b : module.named_buffers(/*recurse=*/false)) {
    mirror.register_buffer(b.key(), b.value());
  }
  for (const auto& child : module.named_children()) {
    mirror.register_module(child.key(), Mirror(*child.value(), unit));
  }
  return mirror;
}

// Snapshot of every buffer, to undo what tracing and checking did to running statistics.
std::vector<std::pair<torch::Tensor, torch::Tensor>> SnapshotBuffers(torch::nn::Module& model) {
  std::vector<std::pair<torch::Tensor, torch::Tensor>> saved;
  for (torch::Tensor& b : model.buffers()) saved.emplace_back(b, b.clone());
  return saved;
}
void RestoreBuffers(const std::vector<std::pair<torch::Tensor, torch::Tensor>>& saved) {
  torch::NoGradGuard no_grad;
  for (const auto& [live, copy] : saved) live.copy_(copy);
}

std::string DescribeMismatch(const torch::Tensor& eager, const torch::Tensor& traced) {
  if (eager.sizes() != traced.sizes()) {
    return fmt::format("output shape {} vs eager {}", c10::str(traced.sizes()),
                       c10::str(eager.sizes()));
  }
  const double max_abs =
      (eager.to(torch::kFloat32) - traced.to(torch::kFloat32)).abs().max().item<double>();
  return fmt::format("max |traced - eager| = {:.3g} on a second input", max_abs);
}

}  // namespace

torch::jit::Module TraceModule(torch::nn::Module& model,
                               const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                               const torch::Tensor& example, const TraceOptions& options) {
  const auto saved = SnapshotBuffers(model);
  auto unit = std::make_shared<torch::jit::CompilationUnit>();
  torch::jit::Module mirror = Mirror(model, unit);

  TracerWarnings().clear();
  torch::jit::tracer::setWarn(&CollectTracerWarning);
  std::shared_ptr<torch::jit::Graph> graph;
  try {
    torch::NoGradGuard no_grad;
    auto traced = torch::jit::tracer::trace(
        {example},
        [&](torch::jit::Stack inputs) -> torch::jit::Stack {
          return {forward(inputs.at(0).toTensor())};
        },
        [](const torch::autograd::Variable&) { return std::string(); }, /*strict=*/true,
        /*force_outplace=*/false, &mirror, {"x"});
    graph = traced.first->graph;
  } catch (const c10::Error& e) {
    RestoreBuffers(saved);
    throw TraceError(fmt::format("the model cannot be traced: {}", e.what_without_backtrace()));
  }
  if (!TracerWarnings().empty()) {
    RestoreBuffers(saved);
    throw TraceError(fmt::format(
        "the model cannot be traced faithfully (data-dependent control flow or a value read "
        "back during forward): {}",
        TracerWarnings().front()));
  }
  torch::jit::FixupTraceScopeBlocks(graph, &mirror);
  torch::jit::NormalizeOps(graph);
  auto method = unit->create_function(c10::QualifiedName(*mirror.type()->name(), "forward"), graph);
  mirror.type()->addMethod(method);

  if (options.check_input.defined()) {
    torch::NoGradGuard no_grad;
    RestoreBuffers(saved);
    const torch::Tensor eager = forward(options.check_input);
    RestoreBuffers(saved);
    const torch::Tensor traced = mirror.forward({options.check_input}).toTensor();
    if (eager.sizes() != traced.sizes() ||
        !torch::allclose(eager.to(torch::kFloat32), traced.to(torch::kFloat32), options.check_rtol,
                         options.check_atol)) {
      RestoreBuffers(saved);
      throw TraceError(fmt::format(
          "the traced graph does not reproduce the eager model ({}): its forward probably has "
          "data-dependent control flow",
          DescribeMismatch(eager, traced)));
    }
  }
  RestoreBuffers(saved);
  return mirror;
}

torch::jit::Module OptimizeForInference(const torch::jit::Module& traced) {
  torch::jit::Module module = traced.clone();
  module.eval();
  torch::jit::Module frozen = torch::jit::freeze(module);
  return torch::jit::optimize_for_inference(frozen);
}

std::string ConfigureTrainingExecutor(const torch::Device& device) {
  // The profiling executor is LibTorch's default; state it so a changed default cannot silently
  // change what "compiled" means.
  torch::jit::getExecutorMode() = true;
  torch::jit::getProfilingMode() = true;
  torch::jit::setTensorExprFuserEnabled(true);
  if (device.is_cpu()) {
    return torch::jit::canFuseOnCPU()
               ? "profiling executor; TensorExpr fuser on"
               : "profiling executor; TensorExpr fuser off on CPU (this LibTorch cannot "
                 "generate CPU kernels: built without LLVM)";
  }
  return "profiling executor; TensorExpr fuser on";
}

void SaveTorchScript(const torch::jit::Module& module, const std::filesystem::path& path) {
  // Into memory first, then written with its errors checked: LibTorch's own file writer aborts
  // the process on a full disk (issue 17: a trial "killed by signal 6"), where this says which
  // file and why.
  std::ostringstream bytes;
  module.save(bytes);
  WriteFileAtomically(path, bytes.view());
}

}  // namespace fwbench
