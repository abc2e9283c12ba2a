// The harness's own cost per step, so that it can be compared with what it measures:
// reading the clock twice, writing one `step` event (formatted, written, flushed) into a pipe
// that another thread drains — exactly what a trial does between two steps — and the
// orchestrator's validation of that line.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "core/clock.h"
#include "core/protocol.h"
#include "orchestrate/trial_monitor.h"

namespace {

void BM_MonotonicNs(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(fwbench::MonotonicNs());
}
BENCHMARK(BM_MonotonicNs);

// A pipe whose far end is drained by a thread, as the orchestrator drains a trial's stdout.
class DrainedPipe {
 public:
  DrainedPipe() {
    if (pipe(fds_) != 0) std::abort();
    drain_ = std::thread([fd = fds_[0]] {
      char buf[65536];
      while (read(fd, buf, sizeof buf) > 0) {
      }
    });
    out_ = fdopen(fds_[1], "w");
  }
  ~DrainedPipe() {
    std::fclose(out_);
    drain_.join();
    close(fds_[0]);
  }
  DrainedPipe(const DrainedPipe&) = delete;
  DrainedPipe& operator=(const DrainedPipe&) = delete;
  std::FILE* file() { return out_; }

 private:
  int fds_[2];
  std::thread drain_;
  std::FILE* out_;
};

// The whole per-step cost a trial pays outside its timed region.
void BM_StepEventToPipe(benchmark::State& state) {
  DrainedPipe pipe;
  fwbench::protocol::EventWriter writer(pipe.file());
  std::int64_t i = 0;
  for (auto _ : state) {
    const std::int64_t t0 = fwbench::MonotonicNs();
    const std::int64_t t1 = fwbench::MonotonicNs();
    writer.WriteStep(i++, t0, t1, 32,
                     state.range(0) != 0 ? std::optional<double>(2.302585) : std::nullopt);
  }
}
BENCHMARK(BM_StepEventToPipe)->Arg(0)->Arg(1)->ArgName("with_loss");

// The orchestrator's side: parse + validate + keep one step line (no disk).
void BM_MonitorStepLine(benchmark::State& state) {
  fwbench::TrialMonitor monitor("bench", nullptr, 1);
  monitor.OnLine(
      R"({"event":"hello","protocol_version":1,"t_main":1,"framework":"f","framework_version":"1","backend":"b","mode":"eager","device":"cpu","threads":1,"thread_pools":[{"name":"p","role":"compute","set":1,"read":1}]})");
  std::int64_t i = 0;
  std::string line;
  for (auto _ : state) {
    state.PauseTiming();
    line = R"({"event":"step","i":)" + std::to_string(i++) +
           R"(,"t0":5843172151000,"t1":5843172420000,"samples":32,"loss":2.302585})";
    state.ResumeTiming();
    benchmark::DoNotOptimize(monitor.OnLine(line));
  }
}
BENCHMARK(BM_MonitorStepLine);

}  // namespace

BENCHMARK_MAIN();
