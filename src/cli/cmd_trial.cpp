#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#include "backends/libtorch_trial.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/protocol.h"
#include "core/trial_spec.h"

namespace fwbench::cli {

Command AddTrialCommand(CLI::App& app, std::int64_t t_main_ns) {
  CLI::App* cmd = app.add_subcommand(
      "trial",
      "Run one trial (the C++ reference worker of the trial protocol): reads SPEC.json, prints "
      "protocol events as JSON Lines on stdout (docs/protocol.md). `fwbench run` calls this; run "
      "it by hand to debug a trial.");
  auto spec_path = std::make_shared<std::string>();
  cmd->add_option("spec", *spec_path, "Trial spec (JSON), e.g. results/<run>/trials/<id>/spec.json")
      ->required();
  return [spec_path, t_main_ns]() -> int {
    TrialSpec spec;
    try {
      spec = ReadTrialSpec(*spec_path);
      if (spec.backend != "libtorch" || spec.mode != "eager") {
        throw UsageError(
            fmt::format("{}: backend '{}' mode '{}' is not served by `fwbench trial` "
                        "(it runs backend libtorch, mode eager)",
                        *spec_path, spec.backend, spec.mode));
      }
    } catch (const UsageError& e) {
      // The orchestrator reads stdout: say it there as a protocol error event, and on stderr.
      protocol::EventWriter(stdout).WriteError("usage", e.what());
      throw;
    }
    const int code = RunLibtorchTrial(spec, t_main_ns, stdout);
    // Everything the trial measured is flushed; skip LibTorch's static teardown (tenths of a
    // second of thread-pool and allocator shutdown) so the process ends when the trial does.
    std::fflush(nullptr);
    std::_Exit(code);
  };
}

}  // namespace fwbench::cli
