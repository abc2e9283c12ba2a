#include "orchestrate/trial_monitor.h"

#include <fmt/format.h>

#include <fstream>

#include "core/protocol.h"

namespace fwbench {

TrialMonitor::TrialMonitor(std::string trial_id, JsonLinesAppender* log, int threads,
                           bool check_pools, int loader_workers)
    : trial_id_(std::move(trial_id)),
      log_(log),
      threads_(threads),
      check_pools_(check_pools),
      loader_workers_(loader_workers) {}

bool TrialMonitor::Violation(std::string reason) {
  protocol_error_ = fmt::format("protocol error on stdout line {}: {}", line_number_, reason);
  return false;
}

bool TrialMonitor::OnLine(std::string_view line) {
  ++line_number_;
  if (protocol_error_) return false;
  std::string error;
  std::optional<protocol::ParsedEvent> event = protocol::ParseEventLine(line, error);
  if (!event) return Violation(std::move(error));
  using protocol::EventKind;
  if (saw_done_) return Violation("event after \"done\"");
  if (!saw_hello_ && event->kind != EventKind::kHello && event->kind != EventKind::kError) {
    return Violation(fmt::format("first event must be \"hello\", got \"{}\"",
                                 protocol::EventKindName(event->kind)));
  }
  switch (event->kind) {
    case EventKind::kHello:
      if (saw_hello_) return Violation("second \"hello\"");
      if (event->body["protocol_version"].get<std::int64_t>() != protocol::kVersion) {
        return Violation(fmt::format("protocol_version {} (this fwbench speaks {})",
                                     event->body["protocol_version"].get<std::int64_t>(),
                                     protocol::kVersion));
      }
      if (event->body["threads"].get<std::int64_t>() != threads_) {
        return Violation(fmt::format("hello says {} threads; the configuration runs {}",
                                     event->body["threads"].get<std::int64_t>(), threads_));
      }
      if (auto reason = check_pools_
                            ? protocol::CheckThreadPools(event->body, threads_, loader_workers_)
                            : std::nullopt) {
        return Violation(*reason);
      }
      saw_hello_ = true;
      break;
    case EventKind::kStep: {
      const auto i = event->body["i"].get<std::int64_t>();
      if (i != next_step_) {
        return Violation(fmt::format("step {} out of order (expected step {})", i, next_step_));
      }
      ++next_step_;
      break;
    }
    case EventKind::kError:
      worker_error_ = fmt::format("{}: {}", event->body["kind"].get<std::string>(),
                                  event->body["message"].get<std::string>());
      break;
    case EventKind::kDone:
      saw_done_ = true;
      break;
    default:
      break;
  }
  if (log_ != nullptr) {
    nlohmann::json logged = event->body;
    logged["trial"] = trial_id_;
    log_->Append(logged);
  }
  events_.push_back(std::move(event->body));
  return true;
}

std::optional<std::string> ClassifyTrial(const ProcessResult& process, const TrialMonitor& monitor,
                                         double timeout_s, const std::string& stderr_tail) {
  const std::string tail = stderr_tail.empty() ? "" : fmt::format(" (stderr: {})", stderr_tail);
  if (!process.started) return fmt::format("could not start: {}", process.start_error);
  if (!process.lost.empty()) {
    return fmt::format("{} after {} steps", process.lost, monitor.steps());
  }
  if (process.timed_out) {
    return fmt::format("timed out after {:.0f} s (time limit; killed) after {} steps", timeout_s,
                       monitor.steps());
  }
  if (monitor.protocol_error()) return *monitor.protocol_error();
  if (process.line_too_long) {
    return fmt::format("protocol error on stdout line {}: line longer than 1 MiB",
                       monitor.events().size() + 1);
  }
  if (monitor.worker_error()) return fmt::format("worker error: {}", *monitor.worker_error());
  if (process.term_signal != 0) {
    return fmt::format("killed by {} after {} steps{}", DescribeSignal(process.term_signal),
                       monitor.steps(), tail);
  }
  if (process.exit_code != 0) {
    return fmt::format("exited with code {} after {} steps{}", process.exit_code, monitor.steps(),
                       tail);
  }
  if (!monitor.saw_done()) {
    return fmt::format("exited early: code 0 without a \"done\" event after {} steps{}",
                       monitor.steps(), tail);
  }
  if (monitor.steps() == 0) return std::string("finished without a single step");
  return std::nullopt;
}

std::string StderrTail(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  }
  if (last.size() > 200) last = last.substr(0, 200) + "…";
  return last;
}

}  // namespace fwbench
