// The small subcommands: report (re-analyse a run folder), doctor (environment check) and plan
// (print the effective plan).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>
#include <map>
#include <memory>

#include "backends/env/libtorch_info.h"
#include "backends/trial/libtorch_trial.h"
#include "cli/commands.h"
#include "cli/plan_options.h"
#include "core/doctor.h"
#include "core/env_fingerprint.h"
#include "orchestrate/builtin_workers.h"
#include "report/csv_export.h"
#include "report/report_charts.h"
#include "report/report_writer.h"
#include "report/results.h"
#include "report/table.h"

namespace fwbench::cli {

report::ReportFiles WriteReportAndSay(const std::filesystem::path& run_dir,
                                      const RunResults& results, std::ostream& log) {
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  report::ReportFiles files = report::WriteReport(run_dir, results, report::ChartsToolDir(self));
  // One line per reason: a missing renderer fails every chart the same way.
  std::map<std::string, std::vector<std::string>> charts_by_reason;
  for (const auto& [id, why] : files.chart_errors) charts_by_reason[why].push_back(id);
  for (const auto& [why, ids] : charts_by_reason) {
    log << fmt::format("warning: {} chart(s) not rendered ({}): {}\n", ids.size(),
                       fmt::join(ids, ", "), why);
  }
  return files;
}

Command AddReportCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "report",
      "Analyse a run folder again from its raw events (also after an interrupted run, marked "
      "incomplete): writes results.json, trials.csv, configurations.csv, report.md and a "
      "self-contained report.html (charts in charts/), and prints the table.");
  auto dir = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("run_dir", *dir, "Run folder, e.g. results/20261124-120000-default")->required();
  cmd->add_flag("--json", *json, "Print results.json instead of the table");
  return [dir, json]() {
    const RunResults results = BuildResults(*dir);
    const std::filesystem::path path = WriteResults(*dir, results);
    WriteCsv(*dir, results);
    IndexRunOrWarn(*dir, results);
    const report::ReportFiles files = WriteReportAndSay(*dir, results, std::cerr);
    if (*json) {
      std::cout << ToJson(results).dump(2) << "\n";
    } else {
      std::cout << FormatTable(results)
                << fmt::format("\nresults: {}\nreport:  {}\n         {}\n", path.string(),
                               files.html.string(), files.markdown.string());
    }
    return 0;
  };
}

Command AddDoctorCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("doctor",
                                     "Print the environment fingerprint stored with every run, and "
                                     "warn about what spoils a benchmark.");
  auto json = std::make_shared<bool>(false);
  auto threads = std::make_shared<int>(0);
  cmd->add_flag("--json", *json, "Print the whole fingerprint as JSON");
  cmd->add_option("--threads", *threads, "Threads a run would use (0 = usable cores)")
      ->default_str("0");
  return [json, threads]() {
    nlohmann::json env = CollectEnvFingerprint();
    env[std::string(kLibtorchBackend)] = CollectLibtorchInfo();
    int t = *threads;
    if (t <= 0) t = env["cpu"].value("usable_cores", 1);
    env["threads"] = t;
    env["matmul_peak"] = {{std::to_string(t), MeasureMatmulPeak(t)}};
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
    env["workers"] = nlohmann::json::array();
    for (const BuiltinBackend& b : ProbeBuiltinWorkers(WorkersDir(self))) {
      env["workers"].push_back(ToJson(b));
    }
    const std::vector<Finding> findings = Diagnose(env, t);
    if (*json) {
      std::cout << env.dump(2) << "\n";
      return 0;
    }
    const auto get = [&](const nlohmann::json& j, const char* key) {
      return j.contains(key) && !j[key].is_null()
                 ? (j[key].is_string() ? j[key].get<std::string>() : j[key].dump())
                 : std::string("unknown");
    };
    const nlohmann::json& cpu = env["cpu"];
    const nlohmann::json& lt = env[std::string(kLibtorchBackend)];
    std::cout << fmt::format("cpu        {} ({} logical, {} usable)\n", get(cpu, "model"),
                             get(cpu, "logical_cores"), get(cpu, "usable_cores"));
    std::cout << fmt::format("os         {} / kernel {}\n", get(env["os"], "distro"),
                             get(env["os"], "kernel"));
    std::cout << fmt::format("memory     {} bytes total, {} available\n",
                             get(env["memory"], "total_bytes"),
                             get(env["memory"], "available_bytes"));
    std::cout << fmt::format("compiler   {} ({})\n", get(env, "compiler"), get(env, "build_type"));
    std::cout << fmt::format("fwbench    {}\n",
                             env.contains("fwbench") ? env["fwbench"].dump() : "unknown");
    std::cout << fmt::format("libtorch   {} (intra-op threads {}, oneDNN {}, CUDA {})\n",
                             get(lt, "version"), get(lt, "intra_op_threads"), get(lt, "mkldnn"),
                             get(lt, "cuda_available"));
    std::cout << fmt::format("blas       {}\n", get(lt, "blas"));
    std::cout << fmt::format("threads    {}\n", t);
    std::cout << fmt::format(
        "matmul     {:.1f} GFLOP/s fp32 peak on {} threads ({}×{} matmuls; the MFU denominator)\n",
        env["matmul_peak"][std::to_string(t)].value("flops_per_s", 0.0) * 1e-9, t,
        env["matmul_peak"][std::to_string(t)].value("size", 0),
        env["matmul_peak"][std::to_string(t)].value("size", 0));
    std::cout << fmt::format("load       {}\n",
                             env.contains("load") ? env["load"].dump() : "unknown");
    if (const auto& a = env["cpu_activity"]; a.is_object()) {
      std::cout << fmt::format(
          "activity   other processes kept {:.2f} cores busy over {:.1f} s; {} threads runnable "
          "(measured from /proc while fwbench slept)\n",
          a.value("other_cores", 0.0), a.value("window_s", 0.0),
          a.contains("runnable") && a["runnable"].is_number() ? a["runnable"].dump() : "?");
    }
    // Which backends `backends = ["auto"]` would run here, and why the others would not.
    // libtorch/aoti is not in auto; where it runs, it needs the PyTorch worker for torch.export.
    std::string aoti = LibtorchUnsupportedReason("aoti", "infer", "fp32", "contiguous");
    for (const auto& w : env["workers"]) {
      if (aoti.empty() && w["name"] == "pytorch" && !w["available"].get<bool>()) {
        aoti = "the PyTorch worker (torch.export) cannot run here";
      }
    }
    std::cout << fmt::format(
        "backends   libtorch: eager, compiled (built in); aoti (AOTInductor, inference, not in "
        "auto): {}\n",
        aoti.empty() ? "runs here" : aoti);
    for (const auto& w : env["workers"]) {
      if (!w["available"].get<bool>()) {
        std::cout << fmt::format("           {}: not available: {}\n", w["name"].get<std::string>(),
                                 w["reason"].get<std::string>());
        continue;
      }
      std::vector<std::string> modes;
      for (const auto& m : w["modes"]) {
        const std::string mode = m.get<std::string>();
        const auto& why = w["mode_unavailable"];
        modes.push_back(why.contains(mode) ? mode + " (no: " + why[mode].get<std::string>() + ")"
                                           : mode);
      }
      std::string notes;
      for (const auto& [key, why] : w["mode_unavailable"].items()) {
        if (key.find('/') != std::string::npos)
          notes += fmt::format("; {}: {}", key, why.get<std::string>());
      }
      const std::string python =
          w.contains("interpreter")
              ? fmt::format("; python {} (CPython {})", w["interpreter"].get<std::string>(),
                            w.value("python_version", "?"))
              : "";
      std::cout << fmt::format("           {}: {} {} — modes {}{}{}; {} lines of port code ({})\n",
                               w["name"].get<std::string>(), w["description"].get<std::string>(),
                               w["version"].get<std::string>(), fmt::join(modes, ", "), notes,
                               python, w.value("port_code_lines", -1), w.value("port_file", "?"));
    }
    std::cout << (findings.empty() ? std::string("no problems found\n") : FormatFindings(findings));
    return 0;
  };
}

Command AddPlanCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("plan",
                                     "Print the effective plan (defaults → plan file → --quick → "
                                     "flags) as TOML, without running it.");
  auto options = std::make_shared<PlanOptions>();
  AddPlanOptions(*cmd, *options);
  return [options]() {
    std::cout << ToToml(BuildPlan(*options));
    return 0;
  };
}

}  // namespace fwbench::cli
