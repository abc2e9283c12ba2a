#pragma once
// The inference server's HTTP transport: an asynchronous, multi-threaded HTTP/1.1 server on
// Boost.Beast/Asio. It knows nothing of models: every complete request goes to a Handler, which
// answers through a Reply, from any thread, whenever the answer is ready (after the batcher ran,
// say). The transport itself answers what a handler never sees: a malformed request (400), a body
// over the limit (413), headers over the limit (431), a client too slow to send its request (408).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fwbench::serve {

struct HttpRequest {
  std::string method;
  std::string target;
  // The body lies in `body_buffer`, which a decoder keeps alive to view binary tensors where they
  // lie instead of copying them (http_bodies.h places them aligned).
  std::string_view body;
  std::shared_ptr<const std::string> body_buffer;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  // The first header of that (lower-case) name; empty when absent.
  std::string Header(const std::string& lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Sent after `body` as they lie, not copied into it (binary output tensors); `tail_owner`
  // keeps them alive until written.
  std::vector<std::string_view> tail;
  std::shared_ptr<const void> tail_owner;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// Answers one request, exactly once, from any thread. A Reply dropped unanswered (a handler bug)
// answers 500 itself, so a connection never waits forever.
class Reply {
 public:
  struct State;
  explicit Reply(std::shared_ptr<State> state) : state_(std::move(state)) {}
  void Send(HttpResponse response) const;

 private:
  std::shared_ptr<State> state_;
};

using Handler = std::function<void(HttpRequest, Reply)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1";  // loopback unless asked otherwise
  std::uint16_t port = 8000;          // 0: any free port (see HttpServer::port())
  int threads = 2;
  std::size_t max_body_bytes = 64u << 20;
  std::size_t max_header_bytes = 16u << 10;
  // A whole request must arrive within this, counted from when the server starts waiting for
  // it (so it is also how long an idle keep-alive connection stays open).
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::size_t max_connections = 4096;
};

class HttpServer {
 public:
  // Binds and listens at once (so the port is known and a busy port fails here, with a message
  // naming it); serving starts with Start().
  HttpServer(const HttpServerOptions& options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::uint16_t port() const;
  void Start();
  // Graceful shutdown: stops accepting, lets requests already read finish (their connections
  // close after the response) for up to `drain`, then stops. Returns how many requests were
  // still in flight when it gave up (0: a clean drain). Safe to call from any non-server thread,
  // once.
  std::size_t Shutdown(std::chrono::milliseconds drain);
  // Blocks until SIGINT or SIGTERM arrives (or RequestStop()), then returns.
  void WaitForStopSignal();
  void RequestStop();
  std::size_t in_flight() const;
  // Connections the server holds, open or closing.
  std::size_t open_connections() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace fwbench::serve
