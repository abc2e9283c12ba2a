#include "loadgen/load_worker.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <optional>
#include <system_error>
#include <thread>

namespace fwbench::loadgen {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// Reads a response for its status and keep-alive alone, on Beast's low-level parser: the header
// fields are looked at and dropped, the body counted and dropped. (Beast's ready-made parser
// allocates every header field; against a fast endpoint that alone put the generator ~5% behind
// wrk on the same endpoint, with both sharing the machine with the server.)
class StatusParser final : public http::basic_parser<false> {
 public:
  unsigned status() const { return status_; }

 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int,
                       beast::error_code& ec) override {
    ec = {};
  }
  void on_response_impl(int code, beast::string_view, int, beast::error_code& ec) override {
    status_ = static_cast<unsigned>(code);
    ec = {};
  }
  void on_field_impl(http::field, beast::string_view, beast::string_view,
                     beast::error_code& ec) override {
    ec = {};
  }
  void on_header_impl(beast::error_code& ec) override { ec = {}; }
  void on_body_init_impl(const boost::optional<std::uint64_t>&, beast::error_code& ec) override {
    ec = {};
  }
  std::size_t on_body_impl(beast::string_view body, beast::error_code& ec) override {
    ec = {};
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code& ec) override {
    ec = {};
  }
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code& ec) override {
    ec = {};
    return body.size();
  }
  void on_finish_impl(beast::error_code& ec) override { ec = {}; }

  unsigned status_ = 0;
};

std::string ErrnoKind(int error) {
  if (error == ECONNRESET || error == EPIPE) return "reset";
  return "io";
}

constexpr std::int64_t kWatchPeriodNs = 20'000'000;
// A refused connect fails in microseconds: retried at once, a dead server drew ~200,000
// attempts/s and a test that measured nothing looked busy (issue 17). Each connection waits
// 1 ms after its first failure, doubling to 100 ms, until a connect succeeds.
constexpr std::int64_t kFirstRetryNs = 1'000'000;
constexpr std::int64_t kMaxRetryNs = 100'000'000;
constexpr int kMaxEvents = 256;

}  // namespace

struct LoadWorker::Conn {
  enum class State { kIdle, kConnecting, kWriting, kReading };
  int fd = -1;
  State state = State::kIdle;
  std::size_t endpoint = 0;  // the address this connection is trying or connected to
  std::size_t written = 0;   // bytes of the request sent so far
  bool peer_closed = false;  // the server closed its side (seen with the last answer, say)
  int send_error = 0;        // the request could not be sent whole: errno of the send
  // Input arrived that has not been read yet. Edge-triggered epoll reports it once; a response
  // that comes before the request is fully written (an early 413) must not be missed.
  bool readable = false;
  std::int64_t deadline_ns = 0;
  int connect_failures = 0;      // in a row; 0 once a connect succeeds
  std::int64_t retry_at_ns = 0;  // after a failed connect, not before this
  beast::flat_buffer buffer;
  std::optional<StatusParser> parser;
  RequestRecord record;
};

LoadWorker::LoadWorker(const std::string& request_bytes, const std::vector<Endpoint>& endpoints,
                       const LoadOptions& options, Clock::time_point start, std::int64_t end_ns,
                       std::vector<std::int64_t> arrivals, int connections,
                       std::atomic<std::int64_t>& done, std::atomic<std::int64_t>& started)
    : bytes_(request_bytes),
      endpoints_(endpoints),
      options_(options),
      start_(start),
      end_ns_(end_ns),
      timeout_ns_(static_cast<std::int64_t>(std::min(options.timeout_s, 1e6) * 1e9)),
      arrivals_(std::move(arrivals)),
      head_(request_bytes.rfind("HEAD ", 0) == 0),
      done_(done),
      started_(started) {
  for (int i = 0; i < connections; ++i) conns_.push_back(std::make_unique<Conn>());
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  if (options_.open_loop) {
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &timer_fd_;
    if (timer_fd_ < 0 || epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, &ev) != 0) {
      const int error = errno;
      if (timer_fd_ >= 0) close(timer_fd_);
      close(epoll_fd_);
      throw std::system_error(error, std::generic_category(), "timerfd");
    }
  }
}

LoadWorker::~LoadWorker() {
  for (auto& c : conns_) CloseSocket(*c);
  if (timer_fd_ >= 0) close(timer_fd_);
  close(epoll_fd_);
}

std::int64_t LoadWorker::NowNs() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start_).count();
}

void LoadWorker::Run() {
  std::this_thread::sleep_until(start_);
  if (options_.open_loop) {
    for (auto& c : conns_) idle_.push_back(c.get());
    if (arrivals_.empty()) stopping_ = true;
    ArmArrivalTimer();
  } else {
    for (auto& c : conns_) Next(*c);
  }
  std::int64_t next_watch = NowNs() + kWatchPeriodNs;
  epoll_event events[kMaxEvents];
  while (!stopping_) {
    // The watchdog rides on the wait's timeout: no timer per request (one per operation cost
    // more CPU than the whole HTTP exchange against a fast endpoint).
    const std::int64_t wake_ns = std::min(next_watch, NextRetryNs());
    const std::int64_t wait_ns = finished_conns_.empty() ? wake_ns - NowNs() : 0;
    const int timeout_ms = wait_ns <= 0 ? 0 : static_cast<int>((wait_ns + 999'999) / 1'000'000);
    const int n = Wait(events, kMaxEvents, timeout_ms);
    if (n < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "epoll");
    bool arrivals_due = false;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == &timer_fd_) {
        arrivals_due = true;
      } else {
        OnEvent(*static_cast<Conn*>(events[i].data.ptr), events[i].events);
      }
    }
    // After the connections' events: a connection the server closed in this batch is seen
    // closed before a due request is given to it.
    if (arrivals_due) OnArrivalTimer();
    ResumeBackedOff();
    Recycle();
    if (NowNs() >= next_watch) {
      ExpireDeadlines();
      next_watch = NowNs() + kWatchPeriodNs;
    }
  }
}

int LoadWorker::Wait(epoll_event* events, int max_events, int timeout_ms) {
  if (options_.spin_ns > 0 && timeout_ms > 0) {
    const std::int64_t until = NowNs() + options_.spin_ns;
    do {
      const int n = epoll_wait(epoll_fd_, events, max_events, 0);
      if (n != 0) return n;
    } while (NowNs() < until);
  }
  return epoll_wait(epoll_fd_, events, max_events, timeout_ms);
}

void LoadWorker::OnEvent(Conn& c, std::uint32_t events) {
  if (c.fd < 0) return;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c.readable = true;
  if (events & (EPOLLRDHUP | EPOLLHUP)) c.peer_closed = true;
  switch (c.state) {
    case Conn::State::kConnecting:
      if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
        int error = 0;
        socklen_t length = sizeof error;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) return ConnectFailed(c);
        c.connect_failures = 0;
        Write(c);
      }
      return;
    case Conn::State::kWriting:
      // A server may answer before it has read the whole request (a 413 from the headers) and
      // then wait, neither reading nor closing: the answer is read while the request is still
      // going out, or it would sit unread until the timeout.
      if (c.readable) {
        Read(c);
        if (c.state != Conn::State::kWriting) return;
      }
      if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) Write(c);
      return;
    case Conn::State::kReading:
      if (c.readable) Read(c);
      return;
    case Conn::State::kIdle:
      // Nothing is asked of an idle connection: input here means the server closed it (as
      // uvicorn does to a keep-alive connection after 5 s). The next request connects afresh
      // instead of failing on a dead socket.
      if (c.readable) CloseSocket(c);
      return;
  }
}

void LoadWorker::Send(Conn& c, std::int64_t intended_ns) {
  c.record = RequestRecord{};
  c.record.intended_ns = intended_ns;
  c.deadline_ns = NowNs() + timeout_ns_;
  c.written = 0;
  if (c.fd < 0) return Connect(c, 0);
  Write(c);
}

void LoadWorker::Connect(Conn& c, std::size_t endpoint) {
  const Endpoint& to = endpoints_[endpoint];
  c.endpoint = endpoint;
  c.state = Conn::State::kConnecting;
  c.readable = false;
  c.peer_closed = false;
  c.buffer.clear();
  c.fd = socket(to.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) return Finish(c, "connect");
  const int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // Registered once for the connection's life, edge-triggered: no epoll_ctl per request.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &c;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) return Finish(c, "connect");
  if (connect(c.fd, reinterpret_cast<const sockaddr*>(&to.address), to.length) == 0) {
    c.connect_failures = 0;
    return Write(c);
  }
  if (errno != EINPROGRESS) ConnectFailed(c);
}

void LoadWorker::ConnectFailed(Conn& c) {
  CloseSocket(c);
  if (c.endpoint + 1 < endpoints_.size()) return Connect(c, c.endpoint + 1);
  const int doublings = std::min(c.connect_failures++, 7);
  c.retry_at_ns = NowNs() + std::min(kFirstRetryNs << doublings, kMaxRetryNs);
  Finish(c, "connect");
}

void LoadWorker::Write(Conn& c) {
  if (c.state != Conn::State::kWriting) {
    c.state = Conn::State::kWriting;
    c.send_error = 0;
    NewParser(c);
    c.record.sent_ns = NowNs();
    // Closed loop: a request is meant to go when it goes (a new connection's set-up is not
    // counted, as wrk does not).
    if (!options_.open_loop) c.record.intended_ns = c.record.sent_ns;
  }
  while (c.written < bytes_.size()) {
    const ssize_t n =
        send(c.fd, bytes_.data() + c.written, bytes_.size() - c.written, MSG_NOSIGNAL);
    if (n >= 0) {
      c.written += static_cast<std::size_t>(n);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return;  // the next EPOLLOUT edge goes on
    } else if (errno != EINTR) {
      // The server may have answered before it closed (a 413 for a body over its limit): that
      // answer, still in the receive queue, is what the request got.
      c.send_error = errno;
      c.state = Conn::State::kReading;
      return Read(c);
    }
  }
  c.state = Conn::State::kReading;
  // Bytes already buffered (an answer that began while the request was going out) are parsed
  // now: no new edge will announce them.
  if (c.buffer.size() > 0 && ParseBuffered(c)) return;
  if (c.readable) Read(c);
}

void LoadWorker::NewParser(Conn& c) {
  c.parser.emplace();
  c.parser->body_limit(1u << 30);
  if (head_) c.parser->skip(true);  // a HEAD answer has a Content-Length but no body
}

bool LoadWorker::ParseBuffered(Conn& c) {
  while (true) {
    while (c.buffer.size() > 0 && !c.parser->is_done()) {
      beast::error_code ec;
      const std::size_t used = c.parser->put(c.buffer.data(), ec);
      c.buffer.consume(used);
      if (ec == http::error::need_more) break;
      if (ec) {
        Finish(c, "bad_response");
        return true;
      }
    }
    if (!c.parser->is_done()) return false;
    const unsigned status = c.parser->status();
    if (status < 100 || status >= 200 || status == 101) break;
    NewParser(c);  // 100 Continue, 103 Early Hints: interim; the answer follows
  }
  // One request is in flight per connection, so nothing more is due on this socket until the
  // next request: no read to find the socket empty.
  c.readable = false;
  Complete(c);
  return true;
}

void LoadWorker::Read(Conn& c) {
  while (true) {
    const auto space = c.buffer.prepare(65536);
    const ssize_t n = recv(c.fd, space.data(), space.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (c.send_error != 0) return Finish(c, ErrnoKind(c.send_error));
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c.readable = false;
        return;
      }
      return Finish(c, ErrnoKind(errno));
    }
    if (n == 0) {
      beast::error_code ec;
      c.parser->put_eof(ec);
      if (ec || !c.parser->is_done()) {
        return Finish(c, c.send_error != 0 ? ErrnoKind(c.send_error) : "closed");
      }
      return Complete(c);
    }
    c.buffer.commit(static_cast<std::size_t>(n));
    if (ParseBuffered(c)) return;
  }
}

void LoadWorker::Complete(Conn& c) {
  const unsigned status = c.parser->status();
  // The connection is done when the server says so, when it closed its side already, or when
  // the request did not go out whole (the server answered part of it).
  const bool whole = c.state == Conn::State::kReading && c.send_error == 0;
  if (!c.parser->keep_alive() || c.peer_closed || !whole) CloseSocket(c);
  Finish(c, status >= 200 && status < 300 ? "" : fmt::format("http_{}", status));
}

void LoadWorker::CloseSocket(Conn& c) {
  if (c.fd >= 0) {
    // Out of the set before the close: a copy of the descriptor in a child forked meanwhile
    // would keep the registration, and its events, alive.
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
  }
  c.fd = -1;
  c.readable = false;
  c.buffer.clear();
}

void LoadWorker::Finish(Conn& c, std::string error) {
  c.state = Conn::State::kIdle;
  c.record.done_ns = NowNs();
  if (c.record.sent_ns == 0) c.record.sent_ns = c.record.done_ns;
  if (!error.empty()) {
    c.record.error = std::move(error);
    CloseSocket(c);
  }
  Record(c.record);
  // Its next request waits for Recycle: sent from here, a connection that fails at once
  // (refused on loopback fails inside connect) would recurse until the stack ran out.
  finished_conns_.push_back(&c);
}

void LoadWorker::Record(RequestRecord record) {
  records_.push_back(std::move(record));
  done_.fetch_add(1, std::memory_order_relaxed);
}

void LoadWorker::Recycle() {
  recycling_.swap(finished_conns_);
  const std::int64_t now = NowNs();
  for (Conn* c : recycling_) {
    if (c->connect_failures > 0 && c->retry_at_ns > now) {
      backing_off_.push_back(c);
    } else if (options_.open_loop) {
      idle_.push_back(c);
    } else {
      Next(*c);
    }
  }
  recycling_.clear();
  if (!options_.open_loop) return;
  Dispatch();
  if (next_arrival_ >= arrivals_.size() && due_.empty() &&
      idle_.size() + backing_off_.size() == conns_.size()) {
    for (auto& k : conns_) CloseSocket(*k);
    stopping_ = true;
  }
}

void LoadWorker::ResumeBackedOff() {
  const std::int64_t now = NowNs();
  const auto over = std::partition(backing_off_.begin(), backing_off_.end(),
                                   [now](const Conn* c) { return c->retry_at_ns > now; });
  // Through Recycle, as a connection just finished would be (a retry that fails at once comes
  // back here rather than recursing).
  finished_conns_.insert(finished_conns_.end(), over, backing_off_.end());
  backing_off_.erase(over, backing_off_.end());
}

std::int64_t LoadWorker::NextRetryNs() const {
  std::int64_t next = std::numeric_limits<std::int64_t>::max();
  for (const Conn* c : backing_off_) next = std::min(next, c->retry_at_ns);
  return next;
}

// Closed loop: the connection's next request, unless the time or the request budget is spent.
void LoadWorker::Next(Conn& c) {
  const std::int64_t now = NowNs();
  const bool more = now < end_ns_ &&
                    (options_.max_requests <= 0 || started_.fetch_add(1) < options_.max_requests);
  if (more) return Send(c, now);
  CloseSocket(c);
  if (++finished_ == conns_.size()) stopping_ = true;
}

void LoadWorker::ExpireDeadlines() {
  const std::int64_t now = NowNs();
  for (auto& c : conns_) {
    if (c->state != Conn::State::kIdle && now > c->deadline_ns) Finish(*c, "timeout");
  }
  // Open loop: a request that waited for a free connection longer than its timeout is not
  // sent late; it timed out, from its intended time (so a server that hangs ends the test at
  // its duration plus the timeout, not after every queued request has had its own timeout).
  while (!due_.empty() && now - due_.front() > timeout_ns_) {
    RequestRecord r;
    r.intended_ns = due_.front();
    r.sent_ns = r.done_ns = now;
    r.error = "timeout";
    due_.pop_front();
    Record(std::move(r));
  }
}

void LoadWorker::ArmArrivalTimer() {
  if (next_arrival_ >= arrivals_.size()) return;
  // steady_clock is CLOCK_MONOTONIC: the arrival's absolute time is the timer's.
  const auto at = (start_ + std::chrono::nanoseconds(arrivals_[next_arrival_])).time_since_epoch();
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(at).count();
  itimerspec spec{};
  spec.it_value.tv_sec = ns / 1'000'000'000;
  spec.it_value.tv_nsec = ns % 1'000'000'000;
  timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void LoadWorker::OnArrivalTimer() {
  std::uint64_t expirations = 0;
  while (read(timer_fd_, &expirations, sizeof expirations) < 0 && errno == EINTR) {
  }
  const std::int64_t now = NowNs();
  while (next_arrival_ < arrivals_.size() && arrivals_[next_arrival_] <= now) {
    due_.push_back(arrivals_[next_arrival_++]);
  }
  Dispatch();
  ArmArrivalTimer();
}

void LoadWorker::Dispatch() {
  while (!due_.empty() && !idle_.empty()) {
    Conn* c = idle_.back();
    idle_.pop_back();
    const std::int64_t intended = due_.front();
    due_.pop_front();
    Send(*c, intended);
  }
}

}  // namespace fwbench::loadgen
