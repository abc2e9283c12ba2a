#include "loadgen/load_runner.h"

#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <thread>

#include "core/error.h"
#include "loadgen/load_worker.h"

namespace fwbench::loadgen {

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

std::vector<RequestRecord> RunLoad(const LoadRequest& request, const LoadOptions& options) {
  if (options.connections < 1 || options.threads < 1) {
    throw UsageError("--connections and --threads must be at least 1");
  }
  if (options.open_loop && !(options.rate_per_s > 0)) {
    throw UsageError("an open-loop test needs --rate above 0 (requests per second)");
  }
  net::io_context resolve_ioc;
  tcp::resolver resolver(resolve_ioc);
  boost::system::error_code ec;
  const auto endpoints = resolver.resolve(request.server.host, request.server.port, ec);
  if (ec) {
    throw UsageError(
        fmt::format("cannot resolve host '{}': {}", request.server.host, ec.message()));
  }
  std::vector<Endpoint> addresses;
  for (const auto& entry : endpoints) {
    Endpoint e;
    e.length = static_cast<socklen_t>(entry.endpoint().size());
    std::memcpy(&e.address, entry.endpoint().data(), e.length);
    addresses.push_back(e);
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
  std::vector<std::unique_ptr<LoadWorker>> workers;
  for (int t = 0; t < threads; ++t) {
    const int share = options.connections / threads + (t < options.connections % threads ? 1 : 0);
    workers.push_back(std::make_unique<LoadWorker>(bytes, addresses, options, start, end_ns,
                                                   std::move(arrivals[static_cast<std::size_t>(t)]),
                                                   share, done, started));
  }
  // jthreads: should anything below throw, the workers are joined, not left running to
  // std::terminate.
  std::vector<std::jthread> pool;
  std::atomic<int> running{threads};
  std::vector<std::exception_ptr> failures(workers.size());
  for (std::size_t i = 0; i < workers.size(); ++i) {
    pool.emplace_back([&, i] {
      try {
        workers[i]->Run();
      } catch (...) {
        failures[i] = std::current_exception();
      }
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
  for (const auto& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
  std::vector<RequestRecord> all;
  for (auto& w : workers) {
    all.insert(all.end(), w->records().begin(), w->records().end());
  }
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a.intended_ns < b.intended_ns; });
  return all;
}

}  // namespace fwbench::loadgen
