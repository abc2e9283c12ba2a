// `fwbench history`: the runs indexed in <results>/history.sqlite, and the hook that indexes
// each run as it finishes.
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "report/run_history.h"

namespace fwbench::cli {

void IndexRunOrWarn(const std::filesystem::path& run_dir, const RunResults& results) {
  const std::filesystem::path dir = std::filesystem::absolute(run_dir).parent_path();
  try {
    IndexRun(dir, run_dir, results);
  } catch (const std::exception& e) {
    std::cerr << fmt::format("warning: the run is not in the history: {}\n", e.what());
  }
}

Command AddHistoryCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "history",
      "List the runs in the results folder's history (date, machine, plan, trials, headline "
      "figures); `fwbench compare` takes their ids.");
  auto out = std::make_shared<std::string>("results");
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--out", *out, "The results folder whose history to list")->capture_default_str();
  cmd->add_flag("--json", *json, "Print the history as JSON");
  return [out, json]() {
    const std::vector<HistoryEntry> runs = ReadHistory(*out);
    if (*json) {
      nlohmann::json j = nlohmann::json::array();
      for (const HistoryEntry& e : runs) {
        j.push_back({{"run_id", e.run_id},
                     {"path", e.path},
                     {"started_utc", e.started_utc},
                     {"machine", e.machine},
                     {"plan", e.plan},
                     {"configurations", e.configurations},
                     {"trials_ok", e.trials_ok},
                     {"trials_failed", e.trials_failed},
                     {"complete", e.complete},
                     {"headline", e.headline}});
      }
      std::cout << j.dump(2) << "\n";
      return 0;
    }
    if (runs.empty()) {
      std::cout << fmt::format("no runs in {} yet\n",
                               (std::filesystem::path(*out) / "history.sqlite").string());
      return 0;
    }
    for (const HistoryEntry& e : runs) {
      std::cout << fmt::format(
          "{}  {}  {}  plan {}  {} configurations, {} ok / {} failed{}\n    {}\n", e.run_id,
          e.started_utc, e.machine, e.plan, e.configurations, e.trials_ok, e.trials_failed,
          e.complete ? "" : " (incomplete)",
          e.headline.empty() ? "(no ranked configuration)" : e.headline);
    }
    return 0;
  };
}

}  // namespace fwbench::cli
