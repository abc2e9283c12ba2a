#include "loadgen/http_client.h"

#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <functional>

#include "core/error.h"
#include "core/text.h"

namespace fwbench::loadgen {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

Url ParseUrl(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) {
    throw UsageError(
        fmt::format("URL '{}' must start with http:// (e.g. "
                    "http://127.0.0.1:8000/v2/health/ready); https is not spoken",
                    url));
  }
  std::string rest = url.substr(scheme.size());
  Url u;
  const auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) u.target = rest.substr(slash);
  const auto colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    u.port = authority.substr(colon + 1);
    authority = authority.substr(0, colon);
    const bool digits =
        !u.port.empty() && u.port.size() <= 5 &&
        std::all_of(u.port.begin(), u.port.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoi(u.port) > 65535 || std::stoi(u.port) == 0) {
      throw UsageError(fmt::format("URL '{}': port '{}' is not a number in 1-65535", url, u.port));
    }
  }
  if (authority.empty()) throw UsageError(fmt::format("URL '{}' has no host", url));
  u.host = authority;
  return u;
}

std::string HttpResult::Header(const std::string& lower_name) const {
  for (const auto& [n, v] : headers) {
    if (n == lower_name) return v;
  }
  return {};
}

HttpResult Fetch(const Url& server, const HttpCall& call, std::chrono::milliseconds timeout) {
  HttpResult out;
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  http::request<http::string_body> req(http::string_to_verb(call.method), call.target, 11);
  if (req.method() == http::verb::unknown) req.method_string(call.method);
  req.set(http::field::host, server.host);
  req.set(http::field::user_agent, "fwbench");
  if (!call.body.empty() || call.method == "POST") {
    req.set(http::field::content_type, call.content_type);
  }
  for (const auto& [n, v] : call.headers) req.set(n, v);
  req.body() = call.body;
  req.prepare_payload();
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1u << 30);
  if (req.method() == http::verb::head) parser.skip(true);  // no body follows the headers
  bool done = false;
  // Beast's timeouts apply to asynchronous operations only, hence the chain.
  tcp::resolver resolver(ioc);
  beast::error_code rec;
  const auto endpoints = resolver.resolve(server.host, server.port, rec);
  if (rec) {
    out.error = "resolve " + server.host + ": " + rec.message();
    return out;
  }
  stream.expires_after(timeout);
  stream.async_connect(endpoints, [&](beast::error_code ec, const tcp::endpoint&) {
    if (ec) {
      out.error = "connect: " + ec.message();
      done = true;
      return;
    }
    http::async_write(stream, req, [&](beast::error_code wec, std::size_t) {
      if (wec) {
        out.error = "write: " + wec.message();
        done = true;
        return;
      }
      http::async_read(stream, buffer, parser, [&](beast::error_code rdec, std::size_t) {
        done = true;
        if (rdec) {
          out.error = "read: " + rdec.message();
          return;
        }
        auto res = parser.release();
        out.status = static_cast<int>(res.result_int());
        out.body = std::move(res.body());
        for (const auto& f : res) {
          out.headers.emplace_back(ToLower(f.name_string()), std::string(f.value()));
        }
      });
    });
  });
  ioc.run();
  if (!done) out.error = "no answer";
  if (out.error == "read: The socket was closed due to a timeout" ||
      out.error == "connect: The socket was closed due to a timeout") {
    out.error = fmt::format("timeout after {} ms", timeout.count());
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return out;
}

std::string SendRaw(const Url& server, const std::string& bytes,
                    std::chrono::milliseconds timeout) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  std::string answer;
  tcp::resolver resolver(ioc);
  beast::error_code rec;
  const auto endpoints = resolver.resolve(server.host, server.port, rec);
  if (rec) return answer;
  char chunk[4096];
  std::function<void(beast::error_code, std::size_t)> on_read = [&](beast::error_code ec,
                                                                    std::size_t n) {
    answer.append(chunk, n);
    if (!ec) stream.async_read_some(net::buffer(chunk), on_read);
  };
  stream.expires_after(timeout);
  stream.async_connect(endpoints, [&](beast::error_code ec, const tcp::endpoint&) {
    if (ec) return;
    net::async_write(stream, net::buffer(bytes), [&](beast::error_code wec, std::size_t) {
      if (wec) return;
      stream.async_read_some(net::buffer(chunk), on_read);
    });
  });
  ioc.run();
  return answer;
}

}  // namespace fwbench::loadgen
