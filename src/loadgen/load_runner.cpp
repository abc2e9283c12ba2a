#include "loadgen/load_runner.h"

#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <thread>

#include "core/error.h"

namespace fwbench::loadgen {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

std::string SerializeRequest(const LoadRequest& r) {
  // Nothing beyond what the request needs: every header is work for the server under test.
  std::string out = fmt::format("{} {} HTTP/1.1\r\nHost: {}:{}\r\n", r.method, r.target,
                                r.server.host, r.server.port);
  for (const auto& [n, v] : r.headers) out += fmt::format("{}: {}\r\n", n, v);
  if (!r.body.empty() || r.method == "POST" || r.method == "PUT") {
    out += fmt::format("Content-Type: {}\r\nContent-Length: {}\r\n", r.content_type, r.body.size());
  }
  out += "\r\n";
  out += r.body;
  return out;
}

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

std::string ErrorKind(const beast::error_code& ec, bool connecting, bool timed_out) {
  if (timed_out) return "timeout";
  if (connecting) return "connect";
  if (ec == net::error::connection_reset || ec == net::error::broken_pipe) return "reset";
  if (ec == http::error::end_of_stream || ec == net::error::eof) return "closed";
  if (ec.category() == beast::error_code(http::error::bad_version).category()) {
    return "bad_response";
  }
  return "io";
}

// One event loop's share of the load.
class Worker {
 public:
  Worker(const std::string& request_bytes, const tcp::resolver::results_type& endpoints,
         const LoadOptions& options, Clock::time_point start, std::int64_t end_ns,
         std::vector<std::int64_t> arrivals, int connections, std::atomic<std::int64_t>& done,
         std::atomic<std::int64_t>& started)
      : bytes_(request_bytes),
        endpoints_(endpoints),
        options_(options),
        start_(start),
        end_ns_(end_ns),
        arrivals_(std::move(arrivals)),
        head_(request_bytes.rfind("HEAD ", 0) == 0),
        timer_(ioc_),
        watchdog_(ioc_),
        done_(done),
        started_(started) {
    for (int i = 0; i < connections; ++i) conns_.push_back(std::make_unique<Conn>(ioc_));
  }

  void Run() {
    Watch();
    if (options_.open_loop) {
      for (auto& c : conns_) idle_.push_back(c.get());
      if (arrivals_.empty()) Stop();
      ArmTimer();
    } else {
      timer_.expires_at(start_);
      timer_.async_wait([this](beast::error_code ec) {
        if (ec) return;
        for (auto& c : conns_) Next(*c);
      });
    }
    ioc_.run();
  }

  std::deque<RequestRecord>& records() { return records_; }

 private:
  struct Conn {
    explicit Conn(net::io_context& ioc) : socket(ioc) {}
    tcp::socket socket;
    beast::flat_buffer buffer;
    std::optional<StatusParser> parser;
    bool connected = false;
    bool busy = false;
    bool timed_out = false;
    std::int64_t deadline_ns = 0;
    RequestRecord record;
  };

  // One timer for every connection's deadline (a timer per operation costs more CPU than the
  // whole HTTP exchange against a fast endpoint): every 20 ms, a request past its timeout has
  // its socket closed, which ends its pending operation.
  void Watch() {
    watchdog_.expires_after(std::chrono::milliseconds(20));
    watchdog_.async_wait([this](beast::error_code ec) {
      // closing_ too: a watchdog that expired in the same wake-up as the last response is no
      // longer pending when Stop() cancels it, and would re-arm itself for ever.
      if (ec || closing_) return;
      const std::int64_t now = NowNs();
      bool active = !options_.open_loop || next_arrival_ < arrivals_.size() || !due_.empty();
      for (auto& c : conns_) {
        if (c->busy) {
          active = true;
          if (now > c->deadline_ns && !c->timed_out) {
            c->timed_out = true;
            beast::error_code ignored;
            c->socket.close(ignored);
          }
        }
      }
      if (active || !closing_) Watch();
    });
  }

  std::int64_t NowNs() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start_).count();
  }
  std::chrono::nanoseconds Timeout() const {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(options_.timeout_s * 1e9));
  }

  void ArmTimer() {
    if (next_arrival_ >= arrivals_.size()) return;
    timer_.expires_at(start_ + std::chrono::nanoseconds(arrivals_[next_arrival_]));
    timer_.async_wait([this](beast::error_code ec) {
      if (ec) return;
      const std::int64_t now = NowNs();
      while (next_arrival_ < arrivals_.size() && arrivals_[next_arrival_] <= now) {
        due_.push_back(arrivals_[next_arrival_++]);
      }
      Dispatch();
      ArmTimer();
    });
  }

  void Dispatch() {
    while (!due_.empty() && !idle_.empty()) {
      Conn* c = idle_.back();
      idle_.pop_back();
      const std::int64_t intended = due_.front();
      due_.pop_front();
      Send(*c, intended);
    }
  }

  void Send(Conn& c, std::int64_t intended) {
    c.record = RequestRecord{};
    c.record.intended_ns = intended;
    c.busy = true;
    c.timed_out = false;
    c.deadline_ns = NowNs() + Timeout().count();
    if (!c.connected) {
      net::async_connect(c.socket, endpoints_,
                         [this, &c](beast::error_code ec, const tcp::endpoint&) {
                           if (ec) return Finish(c, ErrorKind(ec, true, c.timed_out));
                           c.connected = true;
                           beast::error_code ignored;
                           c.socket.set_option(tcp::no_delay(true), ignored);
                           // AwaitResponse reads until it would block: a blocking read would stall
                           // every connection of this loop on a response that arrives in pieces.
                           c.socket.non_blocking(true, ignored);
                           Write(c);
                         });
      return;
    }
    Write(c);
  }

  void Write(Conn& c) {
    c.record.sent_ns = NowNs();
    // Closed loop: a request is meant to go when it goes (a new connection's set-up is not
    // counted, as wrk does not).
    if (!options_.open_loop) c.record.intended_ns = c.record.sent_ns;
    net::async_write(c.socket, net::buffer(bytes_), [this, &c](beast::error_code ec, std::size_t) {
      if (ec) return Finish(c, ErrorKind(ec, false, c.timed_out));
      c.parser.emplace();
      c.parser->body_limit(1u << 30);
      if (head_) c.parser->skip(true);  // a HEAD answer has a Content-Length but no body
      AwaitResponse(c);
    });
  }

  // Waits until the socket is readable, then reads what is there and feeds the parser. Asio's
  // async_read would first try a read right after the write, which fails (the answer cannot be
  // there yet) and costs a system call per request — measured as the gap that kept the
  // generator ~4% behind wrk on a trivial endpoint (bench/load_vs_wrk.sh).
  void AwaitResponse(Conn& c) {
    c.socket.async_wait(tcp::socket::wait_read, [this, &c](beast::error_code ec) {
      if (ec) return Finish(c, ErrorKind(ec, false, c.timed_out));
      while (true) {
        beast::error_code rec;
        const std::size_t n = c.socket.read_some(c.buffer.prepare(65536), rec);
        if (rec == net::error::would_block || rec == net::error::try_again) {
          return AwaitResponse(c);
        }
        if (rec == net::error::eof) {
          beast::error_code pec;
          c.parser->put_eof(pec);
          if (pec || !c.parser->is_done()) return Finish(c, "closed");
          return Complete(c);
        }
        if (rec) return Finish(c, ErrorKind(rec, false, c.timed_out));
        c.buffer.commit(n);
        while (c.buffer.size() > 0 && !c.parser->is_done()) {
          beast::error_code pec;
          const std::size_t used = c.parser->put(c.buffer.data(), pec);
          c.buffer.consume(used);
          if (pec == http::error::need_more) break;
          if (pec) return Finish(c, "bad_response");
        }
        if (c.parser->is_done()) return Complete(c);
      }
    });
  }

  void Complete(Conn& c) {
    const unsigned status = c.parser->status();
    const bool keep = c.parser->keep_alive();
    if (!keep) Close(c);
    Finish(c, status >= 200 && status < 300 ? "" : fmt::format("http_{}", status));
  }

  void Close(Conn& c) {
    beast::error_code ignored;
    c.socket.shutdown(tcp::socket::shutdown_both, ignored);
    c.socket.close(ignored);
    c.connected = false;
    c.buffer.clear();
  }

  void Finish(Conn& c, std::string error) {
    c.busy = false;
    c.record.done_ns = NowNs();
    if (c.record.sent_ns == 0) c.record.sent_ns = c.record.done_ns;
    if (!error.empty()) {
      c.record.error = std::move(error);
      Close(c);
    }
    records_.push_back(c.record);
    done_.fetch_add(1, std::memory_order_relaxed);
    if (options_.open_loop) {
      idle_.push_back(&c);
      Dispatch();
      if (next_arrival_ >= arrivals_.size() && due_.empty() && idle_.size() == conns_.size()) {
        for (auto& k : conns_) Close(*k);
        Stop();
      }
    } else {
      Next(c);
    }
  }

  // Closed loop: the connection's next request, unless the time or the request budget is spent.
  void Next(Conn& c) {
    const bool more = NowNs() < end_ns_ &&
                      (options_.max_requests <= 0 || started_.fetch_add(1) < options_.max_requests);
    if (more) return Send(c, NowNs());
    Close(c);
    if (++finished_ == conns_.size()) Stop();
  }

  void Stop() {
    closing_ = true;
    watchdog_.cancel();
  }

  const std::string& bytes_;
  const tcp::resolver::results_type& endpoints_;
  const LoadOptions& options_;
  Clock::time_point start_;
  std::int64_t end_ns_;
  std::vector<std::int64_t> arrivals_;
  bool head_;
  std::size_t next_arrival_ = 0;
  std::deque<std::int64_t> due_;
  std::vector<Conn*> idle_;
  // Only this worker's thread touches its loop: no locking inside Asio (with the default hint,
  // pthread mutex lock and unlock were among perf's top ten user-space symbols).
  net::io_context ioc_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE};
  net::steady_timer timer_;
  net::steady_timer watchdog_;
  bool closing_ = false;
  std::size_t finished_ = 0;
  std::vector<std::unique_ptr<Conn>> conns_;
  // A deque, not a vector: growing a vector of a million records copies them all at once, a
  // stall of milliseconds in which every connection waits and the server idles.
  std::deque<RequestRecord> records_;
  std::atomic<std::int64_t>& done_;
  std::atomic<std::int64_t>& started_;
};

}  // namespace

std::vector<RequestRecord> RunLoad(const LoadRequest& request, const LoadOptions& options) {
  if (options.connections < 1 || options.threads < 1) {
    throw UsageError("--connections and --threads must be at least 1");
  }
  if (options.open_loop && !(options.rate_per_s > 0)) {
    throw UsageError("an open-loop test needs --rate above 0 (requests per second)");
  }
  net::io_context resolve_ioc;
  tcp::resolver resolver(resolve_ioc);
  beast::error_code ec;
  const auto endpoints = resolver.resolve(request.server.host, request.server.port, ec);
  if (ec) {
    throw UsageError(
        fmt::format("cannot resolve host '{}': {}", request.server.host, ec.message()));
  }
  const std::string bytes = SerializeRequest(request);
  const auto end_ns = static_cast<std::int64_t>((options.warmup_s + options.duration_s) * 1e9);
  const int threads = std::min(options.threads, options.connections);

  std::vector<std::vector<std::int64_t>> arrivals(static_cast<std::size_t>(threads));
  if (options.open_loop) {
    ArrivalSchedule schedule(options.arrival, options.rate_per_s, options.seed);
    std::size_t i = 0;
    for (std::int64_t t = schedule.Next(); t < end_ns; t = schedule.Next(), ++i) {
      arrivals[i % static_cast<std::size_t>(threads)].push_back(t);
    }
  }
  std::atomic<std::int64_t> done{0};
  std::atomic<std::int64_t> started{0};
  const auto start = Clock::now() + std::chrono::milliseconds(20);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < threads; ++t) {
    const int share = options.connections / threads + (t < options.connections % threads ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(bytes, endpoints, options, start, end_ns,
                                               std::move(arrivals[static_cast<std::size_t>(t)]),
                                               share, done, started));
  }
  std::vector<std::thread> pool;
  std::atomic<int> running{threads};
  for (auto& w : workers) {
    pool.emplace_back([&w, &running] {
      w->Run();
      --running;
    });
  }
  auto last = Clock::now();
  while (running.load() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (options.progress && Clock::now() - last >= std::chrono::seconds(1)) {
      last = Clock::now();
      options.progress(std::chrono::duration<double>(Clock::now() - start).count(), done.load());
    }
  }
  for (auto& t : pool) t.join();
  std::vector<RequestRecord> all;
  for (auto& w : workers) {
    all.insert(all.end(), w->records().begin(), w->records().end());
  }
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a.intended_ns < b.intended_ns; });
  return all;
}

}  // namespace fwbench::loadgen
