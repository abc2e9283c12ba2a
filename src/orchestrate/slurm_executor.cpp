#include "orchestrate/slurm_executor.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "core/atomic_file.h"
#include "core/bounded_json.h"
#include "core/clock.h"
#include "core/error.h"
#include "orchestrate/builtin_workers.h"

namespace fwbench {

namespace {

std::string ReadWhole(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  const auto first = s.find_first_not_of(" \n");
  return first == std::string::npos ? "" : s.substr(first);
}

// The last non-empty line of a command's stderr: Slurm's client programs say what failed there.
std::string LastLine(const std::string& text) {
  std::istringstream in(text);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!Trim(line).empty()) last = Trim(line);
  }
  return last;
}

bool Exists(const std::filesystem::path& p) {
  std::error_code ec;  // ESTALE, EACCES on a shared folder: not there yet, not an abort
  return std::filesystem::exists(p, ec);
}

void Sleep(double seconds) { std::this_thread::sleep_for(std::chrono::duration<double>(seconds)); }

double SecondsSince(std::int64_t t_ns) { return static_cast<double>(MonotonicNs() - t_ns) * 1e-9; }

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

const char* const kClientHint =
    "install Slurm's client programs (Debian: apt-get install slurm-client; the test cluster: "
    "scripts/slurm-test-cluster.sh start) and set SLURM_CONF to the cluster's slurm.conf";

std::vector<std::string> WithPartition(std::vector<std::string> argv, const SlurmOptions& o) {
  if (!o.partition.empty()) argv.push_back("--partition=" + o.partition);
  return argv;
}

}  // namespace

CommandOutput RunCommand(const std::vector<std::string>& argv, double timeout_s) {
  CommandOutput out;
  char err_template[] = "/tmp/fwbench-cmd-XXXXXX";
  const int fd = mkstemp(err_template);
  if (fd < 0) throw std::runtime_error("cannot create a temporary file in /tmp");
  close(fd);
  ProcessOptions options;
  options.argv = argv;
  options.stderr_path = err_template;
  options.timeout_s = timeout_s;
  options.is_trial = false;
  const ProcessResult r = RunProcess(options, [&](std::string_view line) {
    out.out.append(line);
    out.out.push_back('\n');
    return true;
  });
  out.err = ReadWhole(err_template);
  std::filesystem::remove(err_template);
  out.started = r.started;
  out.exit_code = r.timed_out ? -1 : r.exit_code;
  if (!r.started) out.err = r.start_error;
  if (r.timed_out) out.err += fmt::format("\n(no answer within {:.0f} s)", timeout_s);
  return out;
}

std::string ParseSbatchJobId(const std::string& out) {
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    line = Trim(line);
    if (line.empty()) continue;
    std::string id = line.substr(0, line.find(';'));
    if (!id.empty() &&
        std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return id;
    }
  }
  return "";
}

std::vector<SlurmNode> ParseSinfoNodes(const std::string& out) {
  std::vector<SlurmNode> nodes;
  std::istringstream in(out);
  std::string name, state;
  while (in >> name >> state) {
    if (std::any_of(nodes.begin(), nodes.end(), [&](const SlurmNode& n) { return n.name == name; }))
      continue;
    // sinfo's short states: a trailing * is "not responding", ~ powered off, # powering up, !
    // pending power down, % powering down, $ maintenance, @ pending reboot, ^ rebooting.
    const bool flagged = state.find_first_of("*~#!%$@^") != std::string::npos;
    const bool down =
        state.starts_with("down") || state.starts_with("drain") || state.starts_with("fail") ||
        state.starts_with("maint") || state.starts_with("unk") || state.starts_with("inval") ||
        state.starts_with("futur") || state.starts_with("boot") || state.starts_with("npc") ||
        state.starts_with("pow") || state.starts_with("plnd") || state.starts_with("resv") ||
        state.starts_with("reboot");
    nodes.push_back({name, state, !flagged && !down});
  }
  return nodes;
}

bool IsUnschedulableReason(const std::string& reason) {
  for (const char* r :
       {"ReqNodeNotAvail", "Nodes required for job are DOWN", "PartitionDown", "PartitionInactive",
        "PartitionNodeLimit", "NodeDown", "BadConstraints", "InvalidAccount", "InvalidQOS"}) {
    if (reason.find(r) != std::string::npos) return true;
  }
  return false;
}

std::vector<SlurmNode> CheckSlurm(SlurmOptions& o) {
  for (const char* program : {"sbatch", "squeue", "sinfo", "srun", "scancel", "scontrol"}) {
    if (FindOnPath(program).empty()) {
      throw UsageError(
          fmt::format("--executor slurm: `{}` is not on PATH; {}", program, kClientHint));
    }
  }
  // Every partition, so that a wrong name can be answered with the right ones; sinfo marks the
  // default one with '*'.
  const CommandOutput all = RunCommand({"sinfo", "-h", "-o", "%P"}, 30.0);
  if (!all.started || all.exit_code != 0) {
    const std::string why = LastLine(all.err);
    throw UsageError(fmt::format(
        "--executor slurm: no Slurm controller answered (sinfo: {}); start the cluster's "
        "slurmctld, or point SLURM_CONF at its slurm.conf (the test cluster: "
        "scripts/slurm-test-cluster.sh start prints the export line)",
        why.empty() ? fmt::format("exit code {}", all.exit_code) : why));
  }
  std::vector<std::string> partitions;
  std::string default_partition;
  std::istringstream in(all.out);
  for (std::string p; in >> p;) {
    if (p.ends_with('*')) {
      p.pop_back();
      default_partition = p;
    }
    if (std::find(partitions.begin(), partitions.end(), p) == partitions.end()) {
      partitions.push_back(p);
    }
  }
  // Named from here on, so that the nodes listed and checked are the ones the jobs run on.
  if (o.partition.empty()) {
    if (default_partition.empty()) {
      throw UsageError(fmt::format(
          "--executor slurm: the cluster has no default partition; name one with "
          "--slurm-partition (its partitions: {})",
          partitions.empty() ? "none" : fmt::format("{}", fmt::join(partitions, ", "))));
    }
    o.partition = default_partition;
  }
  if (std::find(partitions.begin(), partitions.end(), o.partition) == partitions.end()) {
    throw UsageError(fmt::format(
        "--slurm-partition: the cluster has no partition '{}'; its partitions: {} (`sinfo` "
        "lists them)",
        o.partition, partitions.empty() ? "none" : fmt::format("{}", fmt::join(partitions, ", "))));
  }
  const CommandOutput listing =
      RunCommand(WithPartition({"sinfo", "-h", "-N", "-o", "%N %t"}, o), 30.0);
  if (listing.exit_code != 0) {
    throw UsageError(fmt::format("--executor slurm: sinfo failed: {}", LastLine(listing.err)));
  }
  std::vector<SlurmNode> nodes = ParseSinfoNodes(listing.out);
  const std::string where = "partition " + o.partition;
  if (nodes.empty()) throw UsageError(fmt::format("--executor slurm: {} has no nodes", where));
  if (std::none_of(nodes.begin(), nodes.end(), [](const SlurmNode& n) { return n.up; })) {
    std::vector<std::string> states;
    states.reserve(nodes.size());
    for (const SlurmNode& n : nodes) states.push_back(n.name + " " + n.state);
    throw UsageError(fmt::format(
        "--executor slurm: no node of {} can take a job now ({}); resume them (scontrol update "
        "nodename=… state=resume) or choose another --slurm-partition",
        where, fmt::join(states, ", ")));
  }
  return nodes;
}

SlurmExecutor::SlurmExecutor(SlurmOptions options) : options_(std::move(options)) {
  nodes_ = CheckSlurm(options_);
}

SlurmExecutor::~SlurmExecutor() {
  try {
    Cancel();
  } catch (...) {
    // Cancelling is best effort on the way out; the tasks' time limits end them anyway.
  }
}

void SlurmExecutor::CheckNodes(const NodeNeeds& needs, const std::filesystem::path& scratch_dir) {
  // Nodes the user leaves out (--slurm-arg=--exclude=…) are not checked; the node list is
  // expanded by scontrol, which knows Slurm's ranges (n[1-4]).
  std::set<std::string> excluded;
  std::vector<std::string> passed;
  for (std::size_t i = 0; i < options_.sbatch_args.size(); ++i) {
    const std::string& a = options_.sbatch_args[i];
    std::string list;
    if (a.starts_with("--exclude=")) {
      list = a.substr(10);
    } else if (a.starts_with("-x") && a.size() > 2) {
      list = a.substr(2);
    } else if ((a == "--exclude" || a == "-x") && i + 1 < options_.sbatch_args.size()) {
      list = options_.sbatch_args[++i];
    } else {
      passed.push_back(a);
      continue;
    }
    const CommandOutput names = RunCommand({"scontrol", "show", "hostnames", list}, 30.0);
    std::istringstream in(names.out);
    for (std::string n; in >> n;) excluded.insert(n);
  }
  std::vector<std::string> up;
  for (const SlurmNode& n : nodes_) {
    if (n.up && !excluded.contains(n.name)) up.push_back(n.name);
  }
  if (up.empty()) {
    throw UsageError("--slurm-arg=--exclude leaves no node of the partition that is up");
  }
  usable_nodes_ = static_cast<int>(up.size());
  std::filesystem::create_directories(scratch_dir);
  const std::filesystem::path needs_file =
      scratch_dir / fmt::format(".slurm-node-check-{}.json", getpid());
  const nlohmann::json j = {{"commands", needs.commands},
                            {"builtin_workers", needs.builtin_workers},
                            {"python_overrides", needs.python_overrides}};
  WriteFileAtomically(needs_file, j.dump(2) + "\n");
  // A job name of its own, so that a check that never got its nodes is withdrawn by name.
  const std::string job_name = fmt::format("fwbench-node-check-{}", getpid());
  std::vector<std::string> argv = WithPartition(
      {"srun", "--job-name=" + job_name, fmt::format("--nodes={}", up.size()),
       "--ntasks-per-node=1", "--time=10", "--nodelist=" + fmt::format("{}", fmt::join(up, ","))},
      options_);
  if (!options_.account.empty()) argv.push_back("--account=" + options_.account);
  for (const std::string& a : passed) argv.push_back(a);
  argv.insert(argv.end(), {options_.self_exe.string(), "slurm-node-check", needs_file.string()});
  const CommandOutput out = RunCommand(argv, options_.node_check_timeout_s);
  if (out.exit_code != 0) RunCommand({"scancel", "--name=" + job_name}, 30.0);
  std::filesystem::remove(needs_file);
  std::vector<std::string> problems;
  std::set<std::string> answered;
  std::istringstream in(out.out);
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json node = ParseJsonOrDiscard(line);
    if (!node.is_object() || !node.contains("node")) continue;
    answered.insert(node.value("node", ""));
    for (const nlohmann::json& m : node.value("missing", nlohmann::json::array())) {
      problems.push_back(fmt::format("node {} cannot run {}: {}", node.value("node", "?"),
                                     m.value("backend", "?"), m.value("why", "?")));
    }
  }
  for (const std::string& n : up) {
    if (!answered.contains(n)) {
      problems.push_back(fmt::format("node {} did not answer the check (srun exit code {}: {})", n,
                                     out.exit_code,
                                     LastLine(out.err).empty() ? "no message" : LastLine(out.err)));
    }
  }
  if (!problems.empty()) {
    throw UsageError(fmt::format(
        "--executor slurm: {}; install what is missing there (the same paths as here: {}), or "
        "leave those nodes out with --slurm-arg=--exclude=NODE",
        fmt::join(problems, "; "), options_.self_exe.string()));
  }
}

std::string SlurmExecutor::TaskId(const Task& t) const {
  return fmt::format("{}_{}", t.job_id, t.index);
}

std::size_t SlurmExecutor::SubmitArray(const std::vector<ScheduledTrial>& trials) {
  const std::size_t first = tasks_.size();
  const std::string name = fmt::format("tasks-{}.json", ++arrays_);
  nlohmann::json table = nlohmann::json::array();
  for (const ScheduledTrial& t : trials) {
    const std::filesystem::path dir = t.options.stderr_path.parent_path();
    Task task{.trial_id = t.trial_id,
              .options = t.options,
              .job_id = "",
              .index = static_cast<std::size_t>(table.size()),
              .stdout_path = dir / "stdout.jsonl",
              .exit_path = dir / "exit.json"};
    table.push_back({{"trial", t.trial_id},
                     {"argv", t.options.argv},
                     {"env", t.options.env},
                     {"stderr", t.options.stderr_path.string()},
                     {"stdout", task.stdout_path.string()},
                     {"exit", task.exit_path.string()},
                     {"timeout_s", t.options.timeout_s},
                     {"max_line_bytes", t.options.max_line_bytes},
                     {"nodes_dir", (run_dir_ / "nodes").string()}});
    tasks_.push_back(std::move(task));
  }
  const std::filesystem::path table_path = slurm_dir_ / name;
  WriteFileAtomically(table_path, table.dump(1) + "\n");
  // srun makes each trial a job step of its own (sacct lists one per trial), and lets Slurm
  // signal and account it like any step.
  const std::filesystem::path script = slurm_dir_ / fmt::format("task-{}.sh", arrays_);
  WriteFileAtomically(
      script, fmt::format("#!/bin/sh\n# fwbench run {}: one trial per array task "
                          "(docs/scale-out.md)\nexec srun --ntasks=1 --job-name=fwbench-trial "
                          "{} slurm-task {} \"$SLURM_ARRAY_TASK_ID\"\n",
                          run_dir_.filename().string(), ShellQuote(options_.self_exe.string()),
                          ShellQuote(table_path.string())));
  std::filesystem::permissions(script, std::filesystem::perms::owner_exec,
                               std::filesystem::perm_options::add);
  double longest = 0.0;
  for (const ScheduledTrial& t : trials) longest = std::max(longest, t.options.timeout_s);
  int parallel = options_.parallel;
  if (parallel <= 0) {
    parallel = usable_nodes_ > 0
                   ? usable_nodes_
                   : static_cast<int>(std::count_if(nodes_.begin(), nodes_.end(),
                                                    [](const SlurmNode& n) { return n.up; }));
  }
  // The trial's own limit is enforced on the node; Slurm's is the backstop for a stuck node.
  const int minutes = static_cast<int>(std::ceil((longest + 300.0) / 60.0));
  std::vector<std::string> argv = WithPartition(
      {"sbatch", "--parsable", fmt::format("--array=0-{}%{}", trials.size() - 1, parallel),
       "--job-name=fwbench-" + run_dir_.filename().string(), "--nodes=1", "--ntasks=1",
       "--exclusive", "--no-requeue", fmt::format("--time={}", minutes),
       "--output=" + (slurm_dir_ / fmt::format("array-{}-%a.log", arrays_)).string(),
       "--chdir=" + run_dir_.string()},
      options_);
  if (!options_.account.empty()) argv.push_back("--account=" + options_.account);
  if (!jobs_.empty()) argv.push_back("--dependency=afterany:" + jobs_.back());
  for (const std::string& a : options_.sbatch_args) argv.push_back(a);
  argv.push_back(script.string());
  const CommandOutput out = RunCommand(argv, 120.0);
  const std::string job = ParseSbatchJobId(out.out);
  if (out.exit_code != 0 || job.empty()) {
    tasks_.resize(first);
    throw UsageError(fmt::format("sbatch refused the run's job array: {} (command: {})",
                                 LastLine(out.err).empty() ? Trim(out.out) : LastLine(out.err),
                                 fmt::join(argv, " ")));
  }
  jobs_.push_back(job);
  for (std::size_t i = first; i < tasks_.size(); ++i) tasks_[i].job_id = job;
  WriteFileAtomically(slurm_dir_ / fmt::format("job-{}.txt", arrays_), job + "\n");
  return first;
}

void SlurmExecutor::Submit(const std::filesystem::path& run_dir,
                           const std::vector<ScheduledTrial>& trials) {
  run_dir_ = run_dir;
  slurm_dir_ = run_dir / "slurm";
  std::filesystem::create_directories(slurm_dir_);
  std::filesystem::create_directories(run_dir / "nodes");
  // Slurm's default MaxArraySize takes indexes 0-1000: a longer schedule is several arrays,
  // each starting when the one before has ended, so that no more than --slurm-parallel
  // trials run at once and the order holds.
  const std::size_t per_array = std::max<std::size_t>(1, options_.max_array_tasks);
  for (std::size_t first = 0; first < trials.size(); first += per_array) {
    const std::size_t last = std::min(trials.size(), first + per_array);
    SubmitArray({trials.begin() + static_cast<std::ptrdiff_t>(first),
                 trials.begin() + static_cast<std::ptrdiff_t>(last)});
  }
}

void SlurmExecutor::Cancel() {
  // Kept after cancelling: scancel of an ended job is harmless, and a second Cancel retries a
  // scancel that was itself cut short.
  for (const std::string& job : jobs_) RunCommand({"scancel", job}, 30.0);
}

bool SlurmExecutor::NextHasEnded() const {
  return next_ < tasks_.size() && Exists(tasks_[next_].exit_path);
}

ProcessResult SlurmExecutor::Run(const ProcessOptions& options, const LineHandler& on_line) {
  // The schedule's trials come in order; one that was not announced gets an array of its own.
  if (next_ >= tasks_.size() || tasks_[next_].options.stderr_path != options.stderr_path) {
    if (run_dir_.empty()) {
      throw std::logic_error("SlurmExecutor::Run before Submit: the run folder is not known");
    }
    next_ = SubmitArray({{options.stderr_path.parent_path().filename().string(), options}});
  }
  Task& task = tasks_[next_++];
  return Wait(task, on_line);
}

namespace {

// A task's state as squeue knows it: "" once it has left the queue.
struct QueueState {
  std::string state;   // PENDING, RUNNING, COMPLETING, …
  std::string reason;  // why it pends
  std::string node;
  bool answered = false;  // squeue answered at all (a controller briefly away is not an end)
};

QueueState QueryQueue(const std::string& task_id) {
  QueueState q;
  const CommandOutput out = RunCommand({"squeue", "-h", "-j", task_id, "-o", "%T|%r|%N"}, 30.0);
  // An array task that has finished is no longer known to squeue ("Invalid job id specified").
  if (out.exit_code != 0 && out.err.find("Invalid job id") == std::string::npos) return q;
  q.answered = true;
  std::istringstream in(out.out);
  std::string line;
  if (std::getline(in, line)) {
    const auto a = line.find('|');
    const auto b = line.find('|', a + 1);
    if (a != std::string::npos && b != std::string::npos) {
      q.state = line.substr(0, a);
      q.reason = line.substr(a + 1, b - a - 1);
      q.node = Trim(line.substr(b + 1));
    }
  }
  return q;
}

// How the task ended and where: the controller's memory of recent jobs first (MinJobAge; it
// knows the end at once, where accounting may still say RUNNING), then accounting.
struct TaskEnd {
  std::string state = "an unknown state";
  std::string node;
};

TaskEnd EndState(const std::string& task_id) {
  TaskEnd end;
  const CommandOutput show = RunCommand({"scontrol", "-o", "show", "job", task_id}, 30.0);
  const auto field = [&](const std::string& name) {
    const auto at = show.out.find(" " + name + "=");
    if (at == std::string::npos) return std::string();
    const auto from = at + name.size() + 2;
    const auto to = show.out.find_first_of(" \n", from);
    return show.out.substr(from, to == std::string::npos ? std::string::npos : to - from);
  };
  if (show.exit_code == 0 && !field("JobState").empty()) {
    end.state = field("JobState");
    end.node = field("NodeList");
    if (end.node == "(null)") end.node.clear();
    return end;
  }
  const CommandOutput acct =
      RunCommand({"sacct", "-n", "-X", "-P", "-j", task_id, "-o", "State,NodeList"}, 30.0);
  if (acct.exit_code == 0 && !Trim(acct.out).empty()) {
    std::string line = Trim(acct.out);
    line = line.substr(0, line.find('\n'));
    const auto bar = line.find('|');
    end.state = line.substr(0, bar);
    if (bar != std::string::npos) end.node = line.substr(bar + 1);
    if (end.node == "None assigned") end.node.clear();
  }
  return end;
}

}  // namespace

ProcessResult SlurmExecutor::Wait(Task& task, const LineHandler& on_line) {
  ProcessResult result;
  const std::int64_t waited_from_ns = MonotonicNs();
  const std::string task_id = TaskId(task);
  last_place_ = {{"slurm_job", task_id}};
  std::string pending_bytes;
  std::uintmax_t offset = 0;
  bool stopped_by_reader = false;
  std::int64_t stop_seen_ns = 0;
  std::int64_t left_queue_ns = 0;
  std::int64_t unschedulable_since_ns = 0;
  std::int64_t last_state_ns = 0;
  std::int64_t last_answer_ns = MonotonicNs();
  std::int64_t running_since_ns = 0;
  std::string node, unschedulable;

  // New complete lines of the task's stdout file, handed over in order.
  const auto drain = [&] {
    std::ifstream in(task.stdout_path, std::ios::binary);
    if (!in) return;
    in.seekg(static_cast<std::streamoff>(offset));
    std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    offset += chunk.size();
    pending_bytes += chunk;
    std::size_t start = 0;
    for (auto nl = pending_bytes.find('\n'); nl != std::string::npos;
         nl = pending_bytes.find('\n', start)) {
      const std::string_view line(pending_bytes.data() + start, nl - start);
      start = nl + 1;
      if (!stopped_by_reader && !on_line(line)) {
        stopped_by_reader = true;
        RunCommand({"scancel", task_id}, 30.0);
      }
    }
    pending_bytes.erase(0, start);
  };
  // The trial ended without an exit record: `why` says how.
  const auto lost = [&](std::string why) {
    drain();
    result.started = true;
    result.stopped_by_reader = stopped_by_reader;
    result.spawn_ns = waited_from_ns;
    result.exit_ns = MonotonicNs();
    // A protocol violation is the trial's own failure, which the monitor names.
    result.lost = stopped_by_reader ? "" : std::move(why);
    last_place_["node"] = node;
    // The node's type as its other trials found it, if any ran there.
    const nlohmann::json fp = ParseJsonOrDiscard(ReadWhole(run_dir_ / "nodes" / (node + ".json")));
    last_place_["machine_type"] = fp.is_object() ? fp.value("machine_type", "") : "";
    return result;
  };
  // Past the trial's own limit and Slurm's, with the controller silent all along: the run
  // does not wait on a cluster that is gone.
  const double silent_limit_s = task.options.timeout_s + 600.0;

  for (;;) {
    drain();
    if (Exists(task.exit_path)) {
      drain();
      const nlohmann::json e = ParseJsonOrDiscard(ReadWhole(task.exit_path));
      if (e.is_object()) {
        result = ProcessResult{};
        result.spawn_ns = e.value("spawn_ns", std::int64_t{0});
        result.exit_ns = e.value("exit_ns", std::int64_t{0});
        result.started = e.value("started", false);
        result.start_error = e.value("start_error", "");
        result.exit_code = e.value("exit_code", -1);
        result.term_signal = e.value("signal", 0);
        result.timed_out = e.value("timed_out", false);
        result.line_too_long = e.value("line_too_long", false);
        result.max_rss_bytes = e.value("max_rss_bytes", std::int64_t{0});
        result.peak_rss_bytes = e.value("peak_rss_bytes", std::int64_t{0});
        result.user_cpu_s = e.value("user_cpu_s", 0.0);
        result.sys_cpu_s = e.value("sys_cpu_s", 0.0);
        result.stopped_by_reader = stopped_by_reader;
        last_place_["node"] = e.value("node", node);
        last_place_["machine_type"] = e.value("machine_type", "");
        return result;
      }
    }
    if (options_.stop_requested && options_.stop_requested()) {
      if (stop_seen_ns == 0) {
        // The whole array, so that no further task starts while this one ends.
        stop_seen_ns = MonotonicNs();
        Cancel();
      } else if (SecondsSince(stop_seen_ns) >= 10.0) {
        return lost(fmt::format("slurm task {} was cancelled", task_id));
      }
    }
    if (last_state_ns == 0 || SecondsSince(last_state_ns) >= options_.state_poll_s) {
      last_state_ns = MonotonicNs();
      const QueueState q = QueryQueue(task_id);
      if (q.answered) last_answer_ns = MonotonicNs();
      if (!q.node.empty() && q.node != "(null)") node = q.node;
      if (q.state == "RUNNING" && running_since_ns == 0) running_since_ns = MonotonicNs();
      if (q.answered && q.state.empty()) {
        // Gone from the queue: the exit record should be there; a shared folder may show it a
        // little late (below).
        if (left_queue_ns == 0) left_queue_ns = MonotonicNs();
      } else {
        left_queue_ns = 0;
      }
      if (q.state == "PENDING" && IsUnschedulableReason(q.reason)) {
        if (unschedulable_since_ns == 0) unschedulable_since_ns = MonotonicNs();
        if (SecondsSince(unschedulable_since_ns) >= options_.unschedulable_s) {
          RunCommand({"scancel", task_id}, 30.0);
          return lost(
              fmt::format("slurm task {} could not be scheduled for {:.0f} s ({}); "
                          "cancelled",
                          task_id, options_.unschedulable_s, q.reason));
        }
      } else {
        unschedulable_since_ns = 0;
      }
    }
    if (SecondsSince(last_answer_ns) >= silent_limit_s) {
      RunCommand({"scancel", task_id}, 30.0);
      return lost(
          fmt::format("the Slurm controller did not answer for {:.0f} s while slurm task "
                      "{} ran; its trial is counted as lost",
                      silent_limit_s, task_id));
    }
    if (left_queue_ns != 0 && SecondsSince(left_queue_ns) >= options_.exit_record_grace_s) {
      const TaskEnd end = EndState(task_id);
      if (node.empty()) node = end.node;
      // A task that ended by itself wrote its record: on NFS its name may take up to the
      // attribute cache's time (acdirmax, 60 s by default) to show here. A lost node's task
      // (NODE_FAIL) or a cancelled one wrote none.
      const bool ended_itself = end.state.starts_with("COMPLETED") ||
                                end.state.starts_with("FAILED") ||
                                end.state.starts_with("OUT_OF_ME");
      if (!ended_itself || SecondsSince(left_queue_ns) >= options_.exit_record_wait_s) {
        if (stop_seen_ns != 0) return lost(fmt::format("slurm task {} was cancelled", task_id));
        return lost(
            fmt::format("slurm task {} ended {}{} without its exit record (the node or "
                        "its trial process was lost)",
                        task_id, end.state, node.empty() ? "" : " on " + node));
      }
      // Opening the trial's folder makes an NFS client look at it again.
      std::error_code ec;
      std::filesystem::directory_iterator refresh(task.exit_path.parent_path(), ec);
    }
    Sleep(options_.poll_s);
  }
}

}  // namespace fwbench
