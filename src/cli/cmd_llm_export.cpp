// `fwbench llm-export RUN`: the export portability matrix of an llm_lora run's fine-tuned model
// (pipeline/llm_export_matrix.h), and `fwbench llm-export-run`, the LibTorch runtimes of it.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>

#include "backends/inference/llm_step_run.h"
#include "cli/commands.h"
#include "core/bounded_json.h"
#include "core/error.h"
#include "pipeline/llm_export_matrix.h"
#include "report/llm_export_section.h"
#include "report/report_writer.h"
#include "report/results.h"

namespace fwbench::cli {

Command AddLlmExportCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "llm-export",
      "Export the fine-tuned model of an llm_lora run and check where it runs: merges the LoRA "
      "adapters a training trial saved into the checkpoint, exports the generation step "
      "(tokens + fixed-size KV cache) with PyTorch's ONNX (dynamo) exporter, torch.export + "
      "AOTInductor, TorchScript, Keras's SavedModel export and tf2onnx, then runs each file in "
      "every runtime that loads it (ONNX Runtime in Python and Node, LibTorch, TensorFlow): "
      "logits against LibTorch eager on the merged checkpoint, greedy tokens, prefill and "
      "decode tokens/s, or the converter's first error line. Writes RUN/export/matrix.json and "
      "adds the table and a verdict to the run's report (docs/llm.md).");
  auto options = std::make_shared<pipeline::LlmExportOptions>();
  cmd->add_option("run", options->run_dir, "A finished llm_lora run folder (with a train task)")
      ->required();
  cmd->add_option("--from", options->from,
                  "The training configuration whose adapters are merged (default: LibTorch's, "
                  "else the first that saved one), e.g. keras3/jax/train/b8");
  cmd->add_option("--new-tokens", options->new_tokens, "Tokens each runtime generates greedily")
      ->check(CLI::Range(1, 4096))
      ->default_str("32");
  cmd->add_option("--threads", options->threads, "Compute threads of every runtime")
      ->check(CLI::Range(1, 1024))
      ->default_str("1");
  cmd->add_option("--repeats", options->repeats,
                  "Timed generations per runtime (after one untimed)")
      ->check(CLI::Range(1, 1000))
      ->default_str("3");
  std::string ids;
  for (const std::string& id : pipeline::LlmExportIds()) ids += (ids.empty() ? "" : ", ") + id;
  cmd->add_option("--exports", options->exports,
                  "Export paths to run, comma-separated (default: "
                  "all): " +
                      ids)
      ->delimiter(',');
  return [options]() -> int {
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
    if (!std::filesystem::is_regular_file(options->run_dir / "manifest.json")) {
      throw UsageError(
          fmt::format("{}: not a run folder (no manifest.json); give the folder "
                      "`fwbench run --workload llm_lora` wrote",
                      options->run_dir.string()));
    }
    // The export ids first: a typo is a usage error before any worker is probed.
    pipeline::CheckLlmExportIds(options->exports);
    const std::set<std::string> needed = pipeline::LlmExportWorkers(options->exports);
    std::cerr << fmt::format("probing the workers ({})…\n", fmt::join(needed, ", "));
    const std::vector<BuiltinBackend> workers =
        ProbeBuiltinWorkers(WorkersDir(self), {}, needed, false);
    const nlohmann::json matrix = pipeline::RunLlmExportMatrix(*options, workers, self, std::cerr);
    report::Document doc{"fwbench llm-export", "", {report::LlmExportSection(matrix)}};
    std::cout << report::RenderMarkdown(doc);
    std::cout << fmt::format("\nmatrix: {}\n",
                             (options->run_dir / "export" / "matrix.json").string());
    if (std::filesystem::is_regular_file(options->run_dir / "results.json")) {
      const RunResults results = BuildResults(options->run_dir);
      WriteResults(options->run_dir, results);
      WriteReportAndSay(options->run_dir, results, std::cerr);
    }
    return kExitOk;
  };
}

Command AddLlmExportRunCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "llm-export-run",
      "Run one LibTorch row of `fwbench llm-export` (runtime libtorch, torchscript or aoti): "
      "reads REQUEST.json, prints one JSON answer line (docs/llm.md).");
  auto request = std::make_shared<std::filesystem::path>();
  cmd->add_option("request", *request, "The row's request (JSON)")->required();
  return [request]() -> int {
    std::ifstream in(*request);
    if (!in) throw UsageError(fmt::format("{}: cannot read the request", request->string()));
    const nlohmann::json j =
        ParseJsonOrDiscard(std::string{std::istreambuf_iterator<char>(in), {}});
    if (!j.is_object()) {
      throw UsageError(fmt::format("{}: not a JSON object", request->string()));
    }
    std::cout << RunLlmStep(j).dump() << "\n";
    return kExitOk;
  };
}

}  // namespace fwbench::cli
