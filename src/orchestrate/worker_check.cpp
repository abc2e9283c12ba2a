#include "orchestrate/worker_check.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <optional>

#include "core/protocol.h"
#include "data/safetensors.h"
#include "orchestrate/process.h"
#include "orchestrate/run_plan.h"
#include "orchestrate/thread_env.h"
#include "orchestrate/trial_monitor.h"

namespace fwbench {

namespace {

struct Captured {
  ProcessResult process;
  std::vector<std::string> lines;
  std::filesystem::path stderr_path;
};

Captured Run(const WorkerCheckOptions& o, const std::filesystem::path& spec_path,
             const std::string& name) {
  Captured c;
  ProcessOptions options;
  options.argv = SubstituteSpec(o.command, spec_path);
  options.env = TrialThreadEnvironment(o.base.threads);
  c.stderr_path = o.work_dir / (name + ".stderr.log");
  options.stderr_path = c.stderr_path;
  options.timeout_s = o.timeout_s;
  c.process = RunProcess(options, [&](std::string_view line) {
    c.lines.emplace_back(line);
    return true;
  });
  return c;
}

void WriteSpec(const TrialSpec& spec, const std::filesystem::path& path) {
  std::ofstream(path) << ToJson(spec).dump(2) << "\n";
}

class Checker {
 public:
  Checker(std::string run, std::vector<CheckOutcome>& out) : run_(std::move(run)), out_(out) {}
  void Rule(const std::string& rule, bool ok, const std::string& detail) {
    out_.push_back({run_, rule, ok, false, detail});
  }

 private:
  std::string run_;
  std::vector<CheckOutcome>& out_;
};

std::int64_t I64(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number_integer() ? j[key].get<std::int64_t>() : -1;
}

void CheckTrial(const WorkerCheckOptions& o, const std::string& task,
                std::vector<CheckOutcome>& out) {
  TrialSpec spec = o.base;
  spec.task = task;
  spec.trial_id = "check-" + task;
  spec.config_id = fmt::format("{}/{}/{}/b{}", spec.backend, spec.mode, task, spec.batch_size);
  spec.augment = task == "train";
  spec.shuffle = task == "train";
  spec.budget = {.min_steps = 3, .max_steps = 4, .min_seconds = 0.0, .max_seconds = 300.0};
  spec.output_dir = o.work_dir / task;
  std::filesystem::create_directories(spec.output_dir);
  const auto spec_path = o.work_dir / (task + ".spec.json");
  WriteSpec(spec, spec_path);
  const Captured c = Run(o, spec_path, task);

  TrialMonitor monitor(spec.trial_id, nullptr, spec.threads);
  for (const std::string& line : c.lines) {
    if (!monitor.OnLine(line)) break;
  }
  // A worker may decline a configuration it cannot run; that is a valid answer, not a pass.
  if (monitor.worker_error() && monitor.worker_error()->starts_with("unsupported:")) {
    const bool nonzero = c.process.started && c.process.exit_code != 0;
    out.push_back(
        {task, "declines what it cannot run with an `unsupported` error and a non-zero exit",
         nonzero, nonzero,
         nonzero
             ? *monitor.worker_error()
             : fmt::format("{} but exit code {}", *monitor.worker_error(), c.process.exit_code)});
    return;
  }
  Checker check(task, out);
  check.Rule(
      "starts and exits 0", c.process.started && c.process.exit_code == 0,
      c.process.started
          ? fmt::format("exit code {}{}", c.process.exit_code,
                        monitor.worker_error() ? " after error " + *monitor.worker_error() : "")
          : c.process.start_error);
  check.Rule(
      "every stdout line is a valid protocol event, hello first, nothing after done; "
      "hello's thread pools hold the trial's threads (one compute pool, the rest at 1)",
      !monitor.protocol_error().has_value(),
      monitor.protocol_error().value_or(fmt::format("{} events", c.lines.size())));
  const auto& events = monitor.events();
  const auto hello = std::find_if(events.begin(), events.end(),
                                  [](const auto& e) { return e["event"] == "hello"; });
  const bool has_hello = hello != events.end();
  check.Rule("hello names the framework, its version, backend, mode, device and threads",
             has_hello && !(*hello)["framework"].get<std::string>().empty() &&
                 (*hello)["backend"] == spec.backend && (*hello)["mode"] == spec.mode,
             has_hello ? fmt::format("framework {} {}, backend {}, mode {}",
                                     (*hello)["framework"].get<std::string>(),
                                     (*hello)["framework_version"].get<std::string>(),
                                     (*hello)["backend"].get<std::string>(),
                                     (*hello)["mode"].get<std::string>())
                       : "no hello");

  // Every timestamp on CLOCK_MONOTONIC: inside [spawn, exit] of the process as fwbench saw it.
  std::string clock_problem;
  const auto within = [&](const nlohmann::json& e, const char* key) {
    const std::int64_t t = I64(e, key);
    if (t >= c.process.spawn_ns && t <= c.process.exit_ns) return;
    if (clock_problem.empty()) {
      clock_problem = fmt::format(
          "{}.{} = {} is outside the process lifetime [{}, {}] on CLOCK_MONOTONIC (wrong clock "
          "or unit? use time.monotonic_ns(), process.hrtime.bigint(), steady_clock)",
          e["event"].get<std::string>(), key, t, c.process.spawn_ns, c.process.exit_ns);
    }
  };
  std::int64_t steps = 0, last_t1 = 0, first_t0 = 0;
  std::string step_problem, phase_problem;
  std::optional<nlohmann::json> done, logits;
  for (const auto& e : events) {
    const std::string kind = e["event"];
    if (kind == "hello") within(e, "t_main");
    if (kind == "phase") {
      within(e, "t0");
      within(e, "t1");
      if (I64(e, "t1") < I64(e, "t0") && phase_problem.empty()) {
        phase_problem = fmt::format("phase {} ends before it starts", e["name"].dump());
      }
    }
    if (kind == "step") {
      within(e, "t0");
      within(e, "t1");
      const std::int64_t t0 = I64(e, "t0"), t1 = I64(e, "t1");
      if (steps == 0) first_t0 = t0;
      if (step_problem.empty()) {
        if (t1 < t0)
          step_problem = fmt::format("step {}: t1 < t0", steps);
        else if (t0 < last_t1)
          step_problem = fmt::format("step {} starts before step {} ended", steps, steps - 1);
        else if (I64(e, "samples") != spec.batch_size)
          step_problem = fmt::format("step {}: samples {} but batch_size is {}", steps,
                                     e["samples"].dump(), spec.batch_size);
        else if (task == "train" && !(e.contains("loss") && e["loss"].is_number()))
          step_problem = fmt::format("training step {} has no numeric loss", steps);
        else if (task == "infer" && e.contains("loss") && !e["loss"].is_null())
          step_problem = fmt::format("inference step {} has a loss", steps);
      }
      last_t1 = t1;
      ++steps;
    }
    if (kind == "done") {
      within(e, "t");
      done = e;
    }
    if (kind == "output" && e["name"] == "logits") logits = e;
  }
  for (const auto& e : events) {
    if (e["event"] == "phase" && steps > 0 && I64(e, "t1") > first_t0 && phase_problem.empty()) {
      phase_problem = fmt::format("phase {} ends after step 0 began", e["name"].dump());
    }
  }
  check.Rule("timestamps are CLOCK_MONOTONIC nanoseconds within the process lifetime",
             clock_problem.empty() && !events.empty(),
             clock_problem.empty() ? "all inside" : clock_problem);
  check.Rule("set-up phases are well-formed and end before step 0", phase_problem.empty(),
             phase_problem.empty() ? "ok" : phase_problem);
  check.Rule("steps: consecutive, ordered in time, samples = batch_size, loss only in training",
             step_problem.empty() && steps > 0,
             step_problem.empty() ? fmt::format("{} steps", steps) : step_problem);
  check.Rule("budget: at least min_steps (3), at most max_steps (4)", steps >= 3 && steps <= 4,
             fmt::format("{} steps", steps));
  check.Rule("done is last and counts the steps", done && I64(*done, "steps") == steps,
             done ? fmt::format("done.steps = {}", (*done)["steps"].dump()) : "no done event");
  if (task == "infer") {
    std::string problem = logits ? "" : "no output event named logits";
    if (logits) {
      try {
        const auto file = safetensors::File::Read((*logits)["path"].get<std::string>());
        const auto* l = file.Find("logits");
        const auto* in = file.Find("inputs");
        const std::int64_t n = spec.parity_batch;
        if (l == nullptr || in == nullptr)
          problem = "needs tensors logits and inputs";
        else if (l->dtype != safetensors::DType::kF32 || in->dtype != safetensors::DType::kF32)
          problem = "tensors must be F32";
        else if (l->shape != std::vector<std::int64_t>{n, spec.num_classes})
          problem = fmt::format("logits shape must be [{}, {}]", n, spec.num_classes);
        else if (in->shape != std::vector<std::int64_t>{n, 3, 32, 32})
          problem = fmt::format("inputs shape must be [{}, 3, 32, 32]", n);
      } catch (const std::exception& e) {
        problem = e.what();
      }
    }
    check.Rule("writes the parity output: F32 logits [N, classes] and inputs [N, 3, 32, 32]",
               problem.empty(), problem.empty() ? "ok" : problem);
  }
}

void CheckBadSpec(const WorkerCheckOptions& o, std::vector<CheckOutcome>& out) {
  nlohmann::json spec = ToJson(o.base);
  spec["task"] = "infer";
  spec["output_dir"] = (o.work_dir / "bad").string();
  spec["colour"] = "red";  // an unknown field: a version mismatch the worker must refuse
  std::filesystem::create_directories(o.work_dir / "bad");
  const auto path = o.work_dir / "bad.spec.json";
  std::ofstream(path) << spec.dump(2) << "\n";
  const Captured c = Run(o, path, "bad");
  std::optional<nlohmann::json> error;
  bool valid = true;
  for (const std::string& line : c.lines) {
    std::string why;
    const auto e = protocol::ParseEventLine(line, why);
    if (!e) valid = false;
    if (e && e->kind == protocol::EventKind::kError) error = e->body;
  }
  Checker check("bad spec", out);
  check.Rule("a spec with an unknown field: exit code 2", c.process.exit_code == 2,
             fmt::format("exit code {}", c.process.exit_code));
  check.Rule("… and an error event of kind usage naming the field",
             valid && error && (*error)["kind"] == "usage" &&
                 (*error)["message"].get<std::string>().find("colour") != std::string::npos,
             error ? fmt::format("{}: {}", (*error)["kind"].get<std::string>(),
                                 (*error)["message"].get<std::string>())
                   : (valid ? "no error event" : "stdout had lines that are not events"));
}

}  // namespace

std::vector<CheckOutcome> CheckWorker(const WorkerCheckOptions& options) {
  std::filesystem::create_directories(options.work_dir);
  std::vector<CheckOutcome> out;
  for (const std::string& task : options.tasks) CheckTrial(options, task, out);
  const bool ran_something =
      std::any_of(out.begin(), out.end(), [](const CheckOutcome& o) { return !o.skipped; });
  if (!ran_something) {
    out.push_back({"all", "runs at least one of the tasks checked", false, false,
                   "every task was declined as unsupported"});
  }
  CheckBadSpec(options, out);
  return out;
}

std::string FormatCheck(const std::vector<CheckOutcome>& outcomes) {
  std::string text;
  int failed = 0;
  for (const CheckOutcome& o : outcomes) {
    const char* mark = o.skipped ? "skip" : (o.ok ? "ok  " : "FAIL");
    if (!o.ok) ++failed;
    text += fmt::format("{}  [{}] {}: {}\n", mark, o.run, o.rule, o.detail);
  }
  text += failed == 0
              ? fmt::format("worker-check: all {} checks passed\n", outcomes.size())
              : fmt::format("worker-check: {} of {} checks FAILED\n", failed, outcomes.size());
  return text;
}

}  // namespace fwbench
