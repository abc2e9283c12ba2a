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
#include "loadgen/load_threads.h"
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
  LoadPlan plan = PlanLoad(options);
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
  std::atomic<std::int64_t> done{0};
  std::atomic<std::int64_t> started{0};
  const auto start = Clock::now() + std::chrono::milliseconds(20);
  std::vector<std::unique_ptr<LoadWorker>> workers;
  std::vector<std::function<void()>> runs;
  std::vector<std::deque<RequestRecord>*> records;
  for (int t = 0; t < plan.threads; ++t) {
    const auto i = static_cast<std::size_t>(t);
    workers.push_back(std::make_unique<LoadWorker>(bytes, addresses, options, start, plan.end_ns,
                                                   std::move(plan.arrivals[i]), plan.connections[i],
                                                   done, started));
    runs.emplace_back([w = workers.back().get()] { w->Run(); });
    records.push_back(&workers.back()->records());
  }
  RunOnThreads(runs, options, start, done);
  return MergeRecords(records);
}

}  // namespace fwbench::loadgen
