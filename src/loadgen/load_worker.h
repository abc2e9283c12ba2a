#pragma once
// One thread's share of a load test: its keep-alive connections on one epoll loop of its own.
//
// Written on epoll directly, not on Asio, because of what Asio costs per request here: it
// re-arms the descriptor with epoll_ctl for every wait, or tries a read that cannot succeed yet
// before every response (strace: one extra system call per request either way, a third of the
// generator's calls). Against a fast endpoint the generator is the bottleneck and that call
// showed as a lower rate than wrk's (bench/load_vs_wrk.sh; figures in docs/serve.md). Here a
// request costs one send, one recv and a share of one epoll_wait.
#include <sys/epoll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "loadgen/load_runner.h"
#include "loadgen/load_summary.h"

namespace fwbench::loadgen {

// A resolved address to connect to; a connection tries them in order.
struct Endpoint {
  sockaddr_storage address{};
  socklen_t length = 0;
};

class LoadWorker {
 public:
  using Clock = std::chrono::steady_clock;

  // `arrivals` (open loop): this worker's share of the intended send times, ns from `start`.
  // `done` counts answered requests for progress; `started` is shared by every worker so
  // that max_requests holds for the whole test. Throws std::system_error when the kernel
  // refuses an epoll or timer descriptor.
  LoadWorker(const std::string& request_bytes, const std::vector<Endpoint>& endpoints,
             const LoadOptions& options, Clock::time_point start, std::int64_t end_ns,
             std::vector<std::int64_t> arrivals, int connections, std::atomic<std::int64_t>& done,
             std::atomic<std::int64_t>& started);
  ~LoadWorker();
  LoadWorker(const LoadWorker&) = delete;
  LoadWorker& operator=(const LoadWorker&) = delete;

  // Runs until the test is over: the duration or request budget spent (closed loop), or every
  // scheduled request answered or timed out (open loop).
  void Run();

  std::deque<RequestRecord>& records() { return records_; }

 private:
  struct Conn;

  // epoll_wait, after polling for options.spin_ns when it would block.
  int Wait(epoll_event* events, int max_events, int timeout_ms);
  void OnEvent(Conn& c, std::uint32_t events);
  void Send(Conn& c, std::int64_t intended_ns);
  void Connect(Conn& c, std::size_t endpoint);
  void ConnectFailed(Conn& c);
  void Write(Conn& c);
  void NewParser(Conn& c);
  // Parses what is buffered; true when that ended the request (answered or failed).
  bool ParseBuffered(Conn& c);
  void Read(Conn& c);
  void Complete(Conn& c);
  void Finish(Conn& c, std::string error);
  void Record(RequestRecord record);  // kept, and counted for progress
  void Recycle();
  void Next(Conn& c);
  // Connections whose connect failed wait before trying again (BackOff); these resume the
  // ones whose wait is over, and say when the next one's is.
  void ResumeBackedOff();
  std::int64_t NextRetryNs() const;
  void CloseSocket(Conn& c);
  void ExpireDeadlines();
  void ArmArrivalTimer();
  void OnArrivalTimer();
  void Dispatch();
  std::int64_t NowNs() const;

  const std::string& bytes_;
  const std::vector<Endpoint>& endpoints_;
  const LoadOptions& options_;
  Clock::time_point start_;
  std::int64_t end_ns_;
  std::int64_t timeout_ns_;
  std::vector<std::int64_t> arrivals_;
  bool head_;
  int epoll_fd_ = -1;
  int timer_fd_ = -1;  // open loop: fires at the next arrival
  bool stopping_ = false;
  std::size_t next_arrival_ = 0;
  std::deque<std::int64_t> due_;
  std::vector<Conn*> idle_;
  std::vector<Conn*> finished_conns_;  // answered or failed; their next request is due
  std::vector<Conn*> recycling_;
  std::vector<Conn*> backing_off_;  // connect failed; waiting for their retry time
  std::size_t finished_ = 0;
  std::vector<std::unique_ptr<Conn>> conns_;
  // A deque, not a vector: growing a vector of a million records copies them all at once, a
  // stall of milliseconds in which every connection waits and the server idles.
  std::deque<RequestRecord> records_;
  std::atomic<std::int64_t>& done_;
  std::atomic<std::int64_t>& started_;
};

}  // namespace fwbench::loadgen
