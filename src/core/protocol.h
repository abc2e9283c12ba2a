#pragma once
// The trial protocol (docs/protocol.md): a trial process reads one JSON spec and prints one JSON
// object per line on stdout. This header holds the writer used by C++ trial runners and the
// parser/validator used by the orchestrator; both sides share the names defined here.
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace fwbench::protocol {

inline constexpr int kVersion = 1;

// One thread pool a trial configured, and what the library reported afterwards
// (docs/workers.md, "Thread pools"). `compute` pools must hold the configuration's threads;
// `pinned` pools (a second BLAS pool, inter-op pools) must hold 1.
struct ThreadPool {
  std::string name;  // e.g. "torch intra-op (OpenMP)", "openblas (libopenblas.so.0)"
  std::string role;  // "compute", "pinned" or "loader" (an input pipeline's workers)
  int set = 0;       // what the trial asked the library for
  int read = 0;      // what the library reports when asked back
};

// The pools as `hello`'s thread_pools: [{name, role, set, read}] (a dx case's pools too).
nlohmann::json ToJson(const std::vector<ThreadPool>& pools);

// Fields of the `hello` event that describe who is running the trial.
struct Hello {
  std::int64_t t_main_ns = 0;  // CLOCK_MONOTONIC when main() (or the worker's entry) began
  std::string framework;       // e.g. libtorch, pytorch, onnxruntime-node
  std::string framework_version;
  std::string backend;  // the plan's backend name
  std::string mode;     // "eager", "compiled", …
  std::string device;   // "cpu", "cuda", …
  int threads = 0;
  std::vector<ThreadPool> thread_pools;
  nlohmann::json extra = nlohmann::json::object();  // framework-specific details
};

// Writes protocol events as JSON Lines and flushes each one: a trial that dies leaves every
// event it emitted before dying readable by the orchestrator.
class EventWriter {
 public:
  explicit EventWriter(std::FILE* out) : out_(out) {}

  void WriteHello(const Hello& hello);
  void WritePhase(std::string_view name, std::int64_t t0_ns, std::int64_t t1_ns);
  // `loss` is absent for inference steps.
  void WriteStep(std::int64_t index, std::int64_t t0_ns, std::int64_t t1_ns, std::int64_t samples,
                 std::optional<double> loss);
  // Token workloads: `tokens` trained on or generated in the step; for generation also the
  // prompt tokens it prefilled and when the first new token was ready (t0 ≤ t_first_token ≤ t1).
  struct Tokens {
    std::int64_t tokens = 0;
    std::optional<std::int64_t> prompt_tokens;
    std::optional<std::int64_t> t_first_token;
  };
  void WriteStep(std::int64_t index, std::int64_t t0_ns, std::int64_t t1_ns, std::int64_t samples,
                 std::optional<double> loss, const Tokens& tokens);
  // Task input_pipeline: a stretch of steps, each with the time its batch arrived
  // (t0 ≤ t_input ≤ t1: the rest is the consumer's work), written with one flush after them, so
  // that a loader delivering a batch every few microseconds is not measured against a write
  // per batch.
  struct PipelineStep {
    std::int64_t index = 0;
    std::int64_t t0_ns = 0;
    std::int64_t t_input_ns = 0;
    std::int64_t t1_ns = 0;
    std::int64_t samples = 0;
    std::optional<double> loss;
  };
  void WritePipelineSteps(const std::vector<PipelineStep>& steps);
  void WriteMetric(std::string_view name, double value, std::string_view unit);
  void WriteOutput(std::string_view name, std::string_view path);
  void WriteError(std::string_view kind, std::string_view message);
  void WriteDone(std::int64_t steps);

 private:
  void WriteLine(const nlohmann::json& event);
  std::FILE* out_;
};

// Event kinds the orchestrator accepts; anything else on stdout is a protocol error.
enum class EventKind { kHello, kPhase, kStep, kMetric, kOutput, kError, kDone };

struct ParsedEvent {
  EventKind kind;
  nlohmann::json body;  // the whole JSON object, validated for its kind's required fields
};

// Parses and validates one stdout line. On failure returns nullopt and sets `error` to a
// one-line reason (used verbatim as the trial's failure reason).
std::optional<ParsedEvent> ParseEventLine(std::string_view line, std::string& error);

// Why a hello's "thread_pools" break the one-pool rule for a trial of `threads` threads, or
// nullopt: at least one compute pool; every pool's read-back equals what was set; compute pools
// set to `threads`, pinned pools to 1, loader pools (task input_pipeline: the threads or processes
// that read and augment the input) to `loader_workers`, which names none when it is 0.
std::optional<std::string> CheckThreadPools(const nlohmann::json& hello, int threads,
                                            int loader_workers = 0);

std::string_view EventKindName(EventKind kind);

}  // namespace fwbench::protocol
