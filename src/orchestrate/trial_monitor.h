#pragma once
// Ingests one trial's stdout: validates every line against the protocol, enforces the event
// order (hello first, consecutive steps, nothing after done) and logs each event as it arrives.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "orchestrate/event_log.h"
#include "orchestrate/process.h"

namespace fwbench {

class TrialMonitor {
 public:
  // `log` may be null (tests); otherwise every accepted event is appended with a "trial" field.
  // `threads` is the configuration's thread count: a hello that names another, or whose thread
  // pools do not hold it (protocol::CheckThreadPools), stops the trial.
  // With `check_pools` false (plan thread_hygiene = false) the pools are logged, not checked.
  // `loader_workers`: an input_pipeline trial's loader threads or processes (its loader pool).
  TrialMonitor(std::string trial_id, JsonLinesAppender* log, int threads, bool check_pools = true,
               int loader_workers = 0);

  // Returns false when the line breaks the protocol; the process is then stopped.
  bool OnLine(std::string_view line);

  const std::vector<nlohmann::json>& events() const { return events_; }
  bool saw_done() const { return saw_done_; }
  std::int64_t steps() const { return next_step_; }
  const std::optional<std::string>& protocol_error() const { return protocol_error_; }
  const std::optional<std::string>& worker_error() const { return worker_error_; }

 private:
  bool Violation(std::string reason);

  std::string trial_id_;
  JsonLinesAppender* log_;
  int threads_;
  bool check_pools_;
  int loader_workers_;
  std::vector<nlohmann::json> events_;
  std::size_t line_number_ = 0;
  bool saw_hello_ = false;
  bool saw_done_ = false;
  std::int64_t next_step_ = 0;
  std::optional<std::string> protocol_error_;
  std::optional<std::string> worker_error_;
};

// Why a trial failed, or nullopt when it succeeded: exited 0, said hello and done, made at
// least one step, reported no error.
std::optional<std::string> ClassifyTrial(const ProcessResult& process, const TrialMonitor& monitor,
                                         double timeout_s, const std::string& stderr_tail);

// The last non-empty line of a trial's stderr (for failure reasons), at most ~200 characters.
std::string StderrTail(const std::filesystem::path& path);

}  // namespace fwbench
