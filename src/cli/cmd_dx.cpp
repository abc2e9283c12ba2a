// `fwbench dx`: the same faults injected into every framework, and how each one tells you
// (docs/dx.md); `fwbench dx-case`: LibTorch's dx port, one case (what `fwbench dx` runs).
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "backends/trial/libtorch_dx.h"
#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/dx_request.h"
#include "core/error.h"
#include "core/protocol.h"
#include "core/text.h"
#include "core/utc_time.h"
#include "orchestrate/dx_run.h"
#include "report/dx_section.h"
#include "report/results.h"

namespace fwbench::cli {

namespace {

struct DxArgs {
  std::vector<std::string> backends;
  std::vector<std::string> faults;
  int threads = 1;
  double timeout_s = 180.0;
  std::filesystem::path out = "results";
  std::filesystem::path into;
};

struct Target {
  const BuiltinBackend* backend;
  std::string mode;
};

// --backends: NAME (its default modes) or NAME/MODE; none: every backend that runs here.
std::vector<Target> Targets(const std::vector<std::string>& wanted,
                            const std::vector<BuiltinBackend>& all, std::ostream& log) {
  std::vector<Target> out;
  if (wanted.empty()) {
    for (const BuiltinBackend& b : all) {
      if (!b.Available()) {
        log << fmt::format("dx: {} left out: {}\n", b.name, b.unavailable);
        continue;
      }
      for (const std::string& m : DxDefaultModes(b)) {
        if (b.mode_unavailable.contains(m)) {
          log << fmt::format("dx: {}/{} left out: {}\n", b.name, m, b.mode_unavailable.at(m));
          continue;
        }
        out.push_back({&b, m});
      }
    }
    return out;
  }
  for (const std::string& w : wanted) {
    const std::string name = w.substr(0, w.find('/'));
    const BuiltinBackend* b = nullptr;
    std::string names;
    for (const BuiltinBackend& c : all) {
      if (c.name == name) b = &c;
      names += (names.empty() ? "" : ", ") + c.name;
    }
    if (b == nullptr) {
      throw UsageError(fmt::format("--backends: unknown backend '{}' (have: {})", name, names));
    }
    if (!b->Available()) {
      throw UsageError(fmt::format("--backends: {} cannot run here: {}", name, b->unavailable));
    }
    if (w.find('/') == std::string::npos) {
      for (const std::string& m : DxDefaultModes(*b)) {
        if (!b->mode_unavailable.contains(m)) out.push_back({b, m});
      }
      continue;
    }
    const std::string mode = w.substr(w.find('/') + 1);
    if (!b->RunsMode(mode)) {
      throw UsageError(fmt::format("--backends: {} has no mode '{}' (have: {})", name, mode,
                                   fmt::join(b->modes, ", ")));
    }
    if (b->mode_unavailable.contains(mode)) {
      throw UsageError(fmt::format("--backends: {}/{} cannot run here: {}", name, mode,
                                   b->mode_unavailable.at(mode)));
    }
    out.push_back({b, mode});
  }
  return out;
}

// A framework's text may be any bytes: invalid UTF-8 is replaced, not a reason to stop.
std::string Dump(const nlohmann::json& dx) {
  return dx.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string OneLine(const nlohmann::json& c) {
  const std::string outcome = c.value("outcome", "?");
  std::string what = outcome == "error" ? c.value("headline", "") : c.value("detail", "");
  what = Utf8Prefix(what, 99);
  return fmt::format("{}{}{}", outcome,
                     outcome == "error" ? fmt::format(" after {} steps, {} lines",
                                                      c.value("steps", 0), c.value("lines", 0))
                                        : "",
                     what.empty() ? "" : ": " + what);
}

}  // namespace

Command AddDxCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "dx",
      "Developer experience, measured: the same bugs injected into every framework's dx port "
      "(a wrong in_features in the layer `classifier`, an exploding loss with and without the "
      "framework's NaN checker, a bad sample from the data pipeline, uint8 pixels where float32 "
      "is expected, an ONNX export of an operator ONNX lacks), each in a fresh process; per "
      "fault and framework: reported or silent, steps and seconds until then, the error's "
      "lines, characters and stack frames, whether it names the culprit and the port's source "
      "line, and the first line a user reads. Writes dx.json and every error text under "
      "--out/dx-<time>/ (docs/dx.md).");
  auto a = std::make_shared<DxArgs>();
  std::string backend_help =
      "Backends, NAME (its default modes) or NAME/MODE, comma-separated (default: every backend "
      "that runs here). Have:";
  for (const BuiltinBackend& b : BackendCatalogue()) backend_help += " " + b.name;
  cmd->add_option("--backends", a->backends, backend_help)->delimiter(',');
  std::string fault_help = "Faults, comma-separated (default: all):";
  for (const DxFault& f : DxFaults()) fault_help += fmt::format("\n  {}: {}", f.name, f.what);
  cmd->add_option("--faults", a->faults, fault_help)->delimiter(',');
  cmd->add_option("--threads", a->threads, "Compute threads of every case")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--timeout", a->timeout_s, "Seconds a case may take before it counts as a hang")
      ->check(CLI::Range(1.0, 86400.0));
  cmd->add_option("--out", a->out, "Results folder (the cases go to OUT/dx-<UTC time>/)");
  cmd->add_option("--into", a->into,
                  "Also add the table to this run folder's report (its dx.json, results.json, "
                  "report.md and report.html)");
  return [a]() -> int {
    std::vector<const DxFault*> faults;
    for (const std::string& f : a->faults) faults.push_back(&DxFaultNamed(f));
    if (faults.empty()) {
      for (const DxFault& f : DxFaults()) faults.push_back(&f);
    }
    if (!a->into.empty() && !std::filesystem::is_regular_file(a->into / "results.json")) {
      throw UsageError(
          fmt::format("--into {}: no results.json there (give a run folder)", a->into.string()));
    }
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
    std::optional<std::set<std::string>> only;
    if (!a->backends.empty()) {
      only.emplace();
      for (const std::string& b : a->backends) only->insert(b.substr(0, b.find('/')));
      // The runtimes' ONNX model is written by the onnxruntime or opencv-dnn worker.
      for (const BuiltinBackend& b : BackendCatalogue()) {
        if (b.needs_onnx && only->contains(b.name)) only->insert({"onnxruntime", "opencv-dnn"});
      }
    }
    std::vector<BuiltinBackend> all = {LibtorchCatalogueEntry(self, {})};
    // The runtimes run the dx model's own ONNX file, not the PyTorch worker's export.
    for (BuiltinBackend& w : ProbeBuiltinWorkers(WorkersDir(self), {}, only, false)) {
      all.push_back(std::move(w));
    }
    const std::vector<Target> targets = Targets(a->backends, all, std::cerr);

    DxOptions options;
    options.out_dir = a->out / ("dx-" + UtcTimestamp("%Y%m%dT%H%M%SZ"));
    options.self_exe = self;
    options.threads = a->threads;
    options.timeout_s = a->timeout_s;
    std::filesystem::create_directories(options.out_dir);
    bool runtimes = false;
    for (const Target& t : targets) runtimes = runtimes || t.backend->needs_onnx;
    if (runtimes) {
      const std::filesystem::path onnx = std::filesystem::absolute(options.out_dir / "dx.onnx");
      options.onnx_missing = WriteDxOnnxModel(all, onnx);
      if (options.onnx_missing.empty())
        options.onnx_model = onnx;
      else
        std::cerr << "dx: " << options.onnx_missing << "\n";
    }
    nlohmann::json dx = {{"schema_version", 1},
                         {"created_utc", UtcTimestamp("%Y-%m-%dT%H:%M:%SZ")},
                         {"threads", a->threads},
                         {"cases", nlohmann::json::array()}};
    const std::size_t total = targets.size() * faults.size();
    std::size_t done = 0;
    int broken = 0;
    for (const Target& t : targets) {
      for (const DxFault* f : faults) {
        nlohmann::json c = RunDxCase(*t.backend, t.mode, *f, options);
        std::cerr << fmt::format("[{}/{}] {}/{} {}: {}\n", ++done, total, t.backend->name, t.mode,
                                 f->name, OneLine(c));
        const std::string outcome = c.value("outcome", "");
        broken += outcome == "failed" ? 1 : 0;
        dx["cases"].push_back(std::move(c));
        // On disk before the next case.
        WriteFileAtomically(options.out_dir / "dx.json", Dump(dx));
      }
    }
    report::Document doc{"fwbench dx", "", {report::DxSection(dx)}};
    std::cout << report::RenderMarkdown(doc);
    std::cout << fmt::format("\ndx.json and the error texts: {}\n", options.out_dir.string());
    if (!a->into.empty()) {
      WriteFileAtomically(a->into / "dx.json", Dump(dx));
      const RunResults results = BuildResults(a->into);
      WriteResults(a->into, results);
      WriteReportAndSay(a->into, results, std::cerr);
      std::cout << fmt::format("added the developer-experience section to {}\n", a->into.string());
    }
    // A port that could not run its case is fwbench's failure, not a finding.
    return broken > 0 ? 1 : 0;
  };
}

Command AddDxCaseCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "dx-case",
      "Run one case of `fwbench dx` in LibTorch (its dx port): reads REQUEST.json, prints dx "
      "events on stdout and leaves the error text in the request's error_file (docs/dx.md).");
  auto request = std::make_shared<std::string>();
  cmd->add_option("request", *request, "The case's request (JSON)")->required();
  return [request]() {
    try {
      return RunLibtorchDx(ReadDxRequest(*request));
    } catch (const UsageError& e) {
      // `fwbench dx` reads stdout: say it there as an error event (main() says it on stderr).
      protocol::EventWriter(stdout).WriteError("usage", e.what());
      throw;
    }
  };
}

}  // namespace fwbench::cli
