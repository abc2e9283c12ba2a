// `fwbench compare RUN_A RUN_B`: what changed between two runs, metric by metric, with a CI on
// each ratio and a verdict that calls a change only when it is real.
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <memory>

#include "analysis/run_comparison.h"
#include "cli/commands.h"
#include "core/error.h"
#include "report/results.h"
#include "report/run_history.h"

namespace fwbench::cli {

namespace {

struct CompareArgs {
  std::string a, b;
  std::string out = "results";
  double threshold = 0.05;
  bool json = false;
  bool fail_on_regression = false;
};

std::string Percent(double ratio) { return fmt::format("{:+.1f}%", 100.0 * (ratio - 1.0)); }

}  // namespace

Command AddCompareCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "compare",
      "Compare two runs (e.g. before and after upgrading a framework): for every configuration "
      "both ran, the change of step time, p99 latency, time to first batch and peak memory "
      "from RUN_A to RUN_B with a 95% CI on the ratio (hierarchical bootstrap over trials and "
      "steps), called significant only when the CI excludes no change and the change is at "
      "least --threshold.");
  auto args = std::make_shared<CompareArgs>();
  cmd->add_option("run_a", args->a,
                  "The baseline: a run folder, or a run id from `fwbench history`")
      ->required();
  cmd->add_option("run_b", args->b, "The run to compare with it (folder or id)")->required();
  cmd->add_option("--out", args->out, "The results folder whose history resolves run ids")
      ->capture_default_str();
  cmd->add_option("--threshold", args->threshold,
                  "Smallest relative change called significant (0.05 = 5%)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10.0));
  cmd->add_flag("--json", args->json, "Print the comparison as JSON");
  cmd->add_flag("--fail-on-regression", args->fail_on_regression,
                "Exit 1 when anything got significantly slower or bigger (for CI)");
  return [args]() {
    const RunResults a = BuildResults(ResolveRun(args->a, args->out));
    const RunResults b = BuildResults(ResolveRun(args->b, args->out));
    const Comparison c = CompareRuns(a, b, args->threshold);
    bool regression = false;
    for (const MetricChange& m : c.changes) {
      regression = regression || (m.significant && m.ratio.value > 1.0);
    }
    if (args->json) {
      std::cout << ToJson(c, args->threshold).dump(2) << "\n";
    } else {
      std::cout << fmt::format("A: {}\nB: {}\n", a.run_id, b.run_id);
      std::size_t width = 13;
      for (const MetricChange& m : c.changes) width = std::max(width, m.config.size());
      std::cout << fmt::format("{:<{}}  {:<20} {:>11} {:>11}  {:<27} {}\n", "configuration", width,
                               "metric", "A", "B", "change B/A [95% CI]", "verdict");
      for (const MetricChange& m : c.changes) {
        std::cout << fmt::format("{:<{}}  {:<20} {:>11} {:>11}  {:<27} {}\n", m.config, width,
                                 m.metric, fmt::format("{:.4g} {}", m.a, m.unit),
                                 fmt::format("{:.4g} {}", m.b, m.unit),
                                 fmt::format("{} [{}, {}]", Percent(m.ratio.value),
                                             Percent(m.ratio.ci_lo), Percent(m.ratio.ci_hi)),
                                 m.significant ? "SIGNIFICANT: " + m.verdict : m.verdict);
      }
      for (const std::string& id : c.only_in_a) std::cout << fmt::format("only in A: {}\n", id);
      for (const std::string& id : c.only_in_b) std::cout << fmt::format("only in B: {}\n", id);
      for (const std::string& d : c.threads_differ) {
        std::cout << fmt::format("not compared, other thread count: {}\n", d);
      }
      std::cout << fmt::format(
          "threshold {:.0f}%: a change is called when its 95% CI excludes 0 and it is at least "
          "that large\n",
          100.0 * args->threshold);
    }
    return args->fail_on_regression && regression ? kExitFailure : kExitOk;
  };
}

}  // namespace fwbench::cli
