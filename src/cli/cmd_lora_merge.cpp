#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "backends/inputs/llm_merge.h"
#include "cli/commands.h"
#include "core/error.h"

namespace fwbench::cli {

Command AddLoraMergeCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "lora-merge",
      "Merge LoRA adapters (a PEFT folder: adapter_model.safetensors + adapter_config.json, as "
      "an llm_lora training trial saves in trials/<id>/adapter) into a Hugging Face Llama "
      "checkpoint: W += alpha/r · B A, saved as a plain checkpoint that needs no adapters.");
  struct Args {
    std::filesystem::path base, adapter, out;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--checkpoint", args->base, "Base checkpoint folder (config.json + weights)")
      ->required();
  cmd->add_option("--adapter", args->adapter, "PEFT adapter folder")->required();
  cmd->add_option("--out", args->out, "Folder for the merged checkpoint (created)")->required();
  return [args]() {
    if (std::filesystem::exists(args->out / "config.json")) {
      throw UsageError(fmt::format(
          "--out {}: a checkpoint is already there; choose an empty folder", args->out.string()));
    }
    MergeLoraAdapter(args->base, args->adapter, args->out);
    std::cout << fmt::format("merged {} into {}: {}\n", args->adapter.string(), args->base.string(),
                             args->out.string());
    return kExitOk;
  };
}

}  // namespace fwbench::cli
