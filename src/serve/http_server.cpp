#include "serve/http_server.h"

#include <fmt/format.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <thread>

#include "core/clock.h"
#include "core/text.h"
#include "serve/http_bodies.h"

namespace fwbench::serve {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::string HttpRequest::Header(const std::string& lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return {};
}

class HttpSession;

struct HttpServer::Impl {
  HttpServerOptions options;
  Handler handler;
  net::io_context ioc;
  // On a strand of its own: Shutdown's close and the accept handlers, which run on any of the
  // threads, never touch it at the same time.
  tcp::acceptor acceptor{net::make_strand(ioc)};
  std::vector<std::thread> threads;
  std::atomic<std::size_t> in_flight{0};
  std::atomic<std::size_t> connections{0};
  std::atomic<bool> draining{false};
  std::shared_mutex answer_mutex;  // answers share it; Shutdown takes it alone
  bool stopped = false;  // under answer_mutex: the threads are gone, answers are not written
  std::mutex stop_mutex;
  std::condition_variable stop_cv;
  bool stop_requested = false;
  std::weak_ptr<Impl> self;  // what sessions hold on to; set by the owner
  // Keeps the threads running while no socket operation is pending (every request waiting on
  // its batch, say); without it they would return and the answers would never be written.
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  // Every session's read and write deadlines are checked by one sweep (Sweep()): arming and
  // cancelling a timer per request cost the server more than parsing the request did.
  std::mutex sessions_mutex;
  std::map<const void*, std::weak_ptr<HttpSession>> sessions;
  std::optional<net::steady_timer> sweep_timer;
  std::optional<net::steady_timer> accept_backoff;

  void Accept();
  void Sweep();
};

struct Reply::State {
  explicit State(std::shared_ptr<HttpSession> s) : session(std::move(s)) {}
  ~State();
  std::shared_ptr<HttpSession> session;
  std::atomic<bool> sent{false};
};

namespace {

constexpr std::size_t kBodyReadBytes = std::size_t{64} << 10;  // Beast's largest read
constexpr std::size_t kIdleBufferBytes = std::size_t{256} << 10;

HttpResponse ErrorResponse(int status, const std::string& message) {
  HttpResponse r;
  r.status = status;
  r.body = nlohmann::json{{"error", message}}.dump();
  return r;
}

// What makes a request's framing ambiguous, for the checks Beast leaves to the application;
// empty when there is none.
//  * A Transfer-Encoding whose last coding is not chunked leaves the body's end unknown to a
//    server (RFC 9112 §6.3: answer 400 and close). Read as an empty body, the body would be
//    served as the next request on the connection: request smuggling behind a proxy that
//    reads it otherwise.
//  * An HTTP/1.1 request needs exactly one Host header (RFC 9112 §3.2).
std::string FramingError(const http::request_header<>& req, bool chunked) {
  if (req.count(http::field::transfer_encoding) > 0 && !chunked) {
    return fmt::format(
        "Transfer-Encoding '{}' does not end in 'chunked', so the body's length is unknown; "
        "send 'Transfer-Encoding: chunked' or a Content-Length",
        std::string(req[http::field::transfer_encoding]).substr(0, 64));
  }
  if (req.version() >= 11 && req.count(http::field::host) != 1) {
    return req.count(http::field::host) == 0 ? "an HTTP/1.1 request needs a Host header"
                                             : "the request has more than one Host header";
  }
  return {};
}

}  // namespace

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, std::shared_ptr<HttpServer::Impl> server)
      : stream_(std::move(socket)), server_(std::move(server)) {
    ++server_->connections;
  }
  ~HttpSession() {
    {
      std::lock_guard lock(server_->sessions_mutex);
      server_->sessions.erase(this);
    }
    --server_->connections;
  }

  void Start() {
    {
      std::lock_guard lock(server_->sessions_mutex);
      server_->sessions.emplace(this, weak_from_this());
    }
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
  }

  // From the sweep: past its deadline, the pending read or write is cancelled (a read then
  // answers 408, a write closes the connection).
  bool Overdue(std::int64_t now_ns) const {
    const std::int64_t d = deadline_ns_.load(std::memory_order_relaxed);
    return d != 0 && now_ns > d;
  }
  void Expire() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->Overdue(MonotonicNs())) return;  // it finished in the meantime
      self->deadline_ns_ = 0;
      self->timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
  }

  // Called through Reply, from any thread. Once the server has stopped nothing would run the
  // write, and the queued handler would hold the session (and through it the server) for ever:
  // the answer is dropped instead (the connection is closed by then). Under the lock, so that
  // an answer posted just before the stop is still run by Shutdown's last poll.
  void Answer(HttpResponse response) {
    std::shared_lock lock(server_->answer_mutex);
    if (server_->stopped) {
      --server_->in_flight;
      return;
    }
    net::post(stream_.get_executor(),
              [self = shared_from_this(), r = std::move(response)]() mutable {
                self->Write(std::move(r), /*handled=*/true);
              });
  }

 private:
  void ReadHeader() {
    parser_.emplace();
    parser_->body_limit(server_->options.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(server_->options.max_header_bytes));
    // Not the stream's own timeout: that closes the socket, and a slow client is owed a 408.
    ArmDeadline(server_->options.read_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    // The sweep may have expired the deadline just as the headers completed: nothing was left
    // to cancel, and the body would then be read with no deadline at all.
    if (!ec && timed_out_) ec = beast::error::timeout;
    if (ec) return OnReadError(ec);
    const auto& req = parser_->get();
    if (const std::string why = FramingError(req, parser_->chunked()); !why.empty()) {
      deadline_ns_ = 0;
      version_ = req.version();
      return Write(ErrorResponse(400, "malformed HTTP request: " + why), false, true);
    }
    if (req[http::field::expect] == "100-continue" && !parser_->is_done()) {
      // curl and others wait for this before sending a large body.
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                     req.version());
      http::async_write(stream_, *cont,
                        [self = shared_from_this(), cont](beast::error_code wec, std::size_t) {
                          if (wec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    // Beast reads as much as the buffer has room for, up to 64 KiB: left at the few hundred
    // bytes the headers needed, a 4.8 MB body took 10,000 recvmsg calls of ~470 bytes, 18 ms on
    // loopback (docs/serve.md, "Request decoding").
    if (const auto length = parser_->content_length(); length && *length > buffer_.capacity()) {
      buffer_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(*length, kBodyReadBytes)));
    }
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

  void OnReadError(beast::error_code ec) {
    deadline_ns_ = 0;
    const bool started = parser_->got_some() || buffer_.size() > 0;
    if (timed_out_) ec = beast::error::timeout;
    if (ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::connection_reset || ec == net::error::operation_aborted) {
      return Close();
    }
    if (ec == beast::error::timeout) {
      if (!started) return Close();  // an idle keep-alive connection: just close it
      return Write(ErrorResponse(408, fmt::format("the request did not arrive within {} ms; the "
                                                  "server closes slow connections",
                                                  server_->options.read_timeout.count())),
                   false, true);
    }
    if (ec == http::error::body_limit) {
      return Write(
          ErrorResponse(413, fmt::format("the request body is over the server's limit of {} bytes "
                                         "(fwbench serve --max-body-bytes raises it)",
                                         server_->options.max_body_bytes)),
          false, true);
    }
    if (ec == http::error::header_limit) {
      return Write(ErrorResponse(431, fmt::format("the request headers are over the server's "
                                                  "limit of {} bytes",
                                                  server_->options.max_header_bytes)),
                   false, true);
    }
    if (ec.category() == beast::error_code(http::error::bad_method).category() ||  // parse errors
        ec == http::error::partial_message) {
      if (ec == http::error::partial_message && !started) return Close();
      return Write(ErrorResponse(400, "malformed HTTP request: " + ec.message()), false, true);
    }
    Close();
  }

  void OnRead(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    deadline_ns_ = 0;
    http::request<TensorRequestBody> req = parser_->release();
    // An idle keep-alive connection keeps no large buffer (a pipelined request can grow it).
    if (buffer_.size() == 0 && buffer_.capacity() > kIdleBufferBytes) buffer_.shrink_to_fit();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    HttpRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    for (const auto& field : req) {
      request.headers.emplace_back(ToLower(field.name_string()), std::string(field.value()));
    }
    request.body = req.body().view();
    request.body_buffer = std::move(req.body().buffer);
    ++server_->in_flight;
    auto state = std::make_shared<Reply::State>(shared_from_this());
    try {
      server_->handler(std::move(request), Reply(state));
    } catch (const std::exception& e) {
      Reply(state).Send(ErrorResponse(500, std::string("internal error: ") + e.what()));
    }
  }

  void Write(HttpResponse r, bool handled, bool force_close = false) {
    auto res = std::make_shared<http::response<SpansResponseBody>>(
        static_cast<http::status>(r.status), version_ == 0 ? 11 : version_);
    res->set(http::field::server, "fwbench");
    res->set(http::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers) res->set(name, value);
    res->body().head = std::move(r.body);
    res->body().tail = std::move(r.tail);
    res->body().tail_owner = std::move(r.tail_owner);
    const bool close = force_close || !keep_alive_ || server_->draining.load();
    res->keep_alive(!close);
    res->prepare_payload();
    ArmDeadline(server_->options.write_timeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, close, handled, force_close](
                          beast::error_code ec, std::size_t) {
                        if (handled) --self->server_->in_flight;
                        if (!ec && force_close) return self->Linger();
                        if (ec || close) return self->Close();
                        self->ReadHeader();
                      });
  }

  // After an error answer to a request not read to its end (413, 431, 400, 408): the client may
  // still be sending. Closing now, with its bytes unread, would answer them with a reset, and a
  // client whose send fails (curl, Python's requests) reports the reset, not the answer. So, as
  // nginx's lingering close does: stop sending, read and drop what still comes, for up to 2 s.
  void Linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    ArmDeadline(std::chrono::seconds(2));
    Discard();
  }
  void Discard() {
    buffer_.clear();
    stream_.socket().async_read_some(
        buffer_.prepare(std::size_t{64} * 1024),
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec) return self->Close();  // the client is done, or the sweep ended the 2 s
          self->Discard();
        });
  }

  // The sweep cancels the pending operation once `after` has passed (Expire).
  void ArmDeadline(std::chrono::nanoseconds after) {
    timed_out_ = false;
    deadline_ns_ = MonotonicNs() + after.count();
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

 public:
  // Only once the server's threads have stopped: nothing else touches the socket then.
  void CloseAfterStop() { Close(); }

 private:
  beast::tcp_stream stream_;
  std::atomic<std::int64_t> deadline_ns_{0};  // 0: not waiting on the client
  bool timed_out_ = false;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<TensorRequestBody>> parser_;
  std::shared_ptr<HttpServer::Impl> server_;
  bool keep_alive_ = true;
  unsigned version_ = 11;
};

Reply::State::~State() {
  if (!sent.exchange(true)) {
    session->Answer(ErrorResponse(500, "internal error: the request was dropped unanswered"));
  }
}

void Reply::Send(HttpResponse response) const {
  if (state_->sent.exchange(true)) return;  // answered already (e.g. a timeout raced the batch)
  state_->session->Answer(std::move(response));
}

void HttpServer::Impl::Accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // Out of file descriptors, say: the connection stays in the backlog, so accepting again
      // at once would fail again at once and spin a thread. Wait a little first.
      accept_backoff->expires_after(std::chrono::milliseconds(50));
      accept_backoff->async_wait([this](beast::error_code wec) {
        if (!wec) Accept();
      });
      return;
    }
    if (!ec) {
      if (connections.load() >= options.max_connections) {
        beast::error_code ignored;
        socket.close(ignored);  // over the limit: refuse rather than queue without bound
      } else {
        // Sessions hold the Impl through a shared_ptr made by the owner; see HttpServer().
        std::make_shared<HttpSession>(std::move(socket), self.lock())->Start();
      }
    }
    Accept();
  });
}

void HttpServer::Impl::Sweep() {
  const auto period = std::clamp(std::min(options.read_timeout, options.write_timeout) / 4,
                                 std::chrono::milliseconds(5), std::chrono::milliseconds(250));
  sweep_timer->expires_after(period);
  sweep_timer->async_wait([this](beast::error_code ec) {
    if (ec) return;
    const std::int64_t now = MonotonicNs();
    // Every live session is taken out under the lock and looked at after it: a reference
    // dropped under the lock could be the last one, and ~HttpSession takes the same lock.
    std::vector<std::shared_ptr<HttpSession>> live;
    {
      std::lock_guard lock(sessions_mutex);
      live.reserve(sessions.size());
      for (const auto& [key, weak] : sessions) {
        if (auto s = weak.lock()) live.push_back(std::move(s));
      }
    }
    for (const auto& s : live) {
      if (s->Overdue(now)) s->Expire();
    }
    Sweep();
  });
}

HttpServer::HttpServer(const HttpServerOptions& options, Handler handler)
    : impl_(std::make_shared<Impl>()) {
  impl_->options = options;
  impl_->handler = std::move(handler);
  impl_->self = impl_;
  beast::error_code ec;
  const auto address = net::ip::make_address(options.address, ec);
  if (ec) {
    throw std::invalid_argument(fmt::format(
        "--host '{}' is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)", options.address));
  }
  const tcp::endpoint endpoint(address, options.port);
  auto& acc = impl_->acceptor;
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error(fmt::format(
        "cannot listen on {}:{}: {}{}", options.address, options.port, ec.message(),
        ec == net::error::address_in_use ? " (another server holds the port; pick another "
                                           "with --port)"
                                         : ""));
  }
}

HttpServer::~HttpServer() {
  if (!impl_->threads.empty()) Shutdown(std::chrono::milliseconds(0));
  impl_->self.reset();
}

std::uint16_t HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

void HttpServer::Start() {
  impl_->work.emplace(impl_->ioc.get_executor());
  impl_->sweep_timer.emplace(impl_->ioc);
  impl_->accept_backoff.emplace(impl_->acceptor.get_executor());
  impl_->Sweep();
  impl_->Accept();
  const int n = std::max(1, impl_->options.threads);
  for (int i = 0; i < n; ++i) {
    impl_->threads.emplace_back([impl = impl_] { impl->ioc.run(); });
  }
}

std::size_t HttpServer::Shutdown(std::chrono::milliseconds drain) {
  if (impl_->threads.empty()) return 0;
  impl_->draining = true;
  net::post(impl_->acceptor.get_executor(), [impl = impl_] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
  });
  const auto deadline = std::chrono::steady_clock::now() + drain;
  while (impl_->in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const std::size_t left = impl_->in_flight.load();
  {
    std::unique_lock lock(impl_->answer_mutex);
    impl_->stopped = true;
  }
  impl_->work.reset();
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  // Connections still open (idle keep-alive ones) are closed, and their pending handlers run to
  // completion here: those handlers hold the sessions, which hold the server, so without this
  // every stopped server would keep its sockets open until the process ends.
  std::vector<std::shared_ptr<HttpSession>> open;
  {
    std::lock_guard lock(impl_->sessions_mutex);
    for (const auto& [key, weak] : impl_->sessions) {
      if (auto session = weak.lock()) open.push_back(std::move(session));
    }
  }
  for (const auto& session : open) session->CloseAfterStop();
  open.clear();
  if (impl_->sweep_timer) impl_->sweep_timer->cancel();
  if (impl_->accept_backoff) impl_->accept_backoff->cancel();
  impl_->ioc.restart();
  impl_->ioc.poll();
  return left;
}

void HttpServer::WaitForStopSignal() {
  net::io_context signals_ioc;
  net::signal_set signals(signals_ioc, SIGINT, SIGTERM);
  signals.async_wait([this](beast::error_code ec, int) {
    if (!ec) RequestStop();
  });
  std::thread signal_thread([&signals_ioc] { signals_ioc.run(); });
  {
    std::unique_lock lock(impl_->stop_mutex);
    impl_->stop_cv.wait(lock, [this] { return impl_->stop_requested; });
  }
  signals_ioc.stop();
  signal_thread.join();
}

void HttpServer::RequestStop() {
  {
    std::lock_guard lock(impl_->stop_mutex);
    impl_->stop_requested = true;
  }
  impl_->stop_cv.notify_all();
}

std::size_t HttpServer::in_flight() const { return impl_->in_flight.load(); }

std::size_t HttpServer::open_connections() const { return impl_->connections.load(); }

}  // namespace fwbench::serve
