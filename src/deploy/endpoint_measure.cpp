#include "deploy/endpoint_measure.h"

#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <thread>

#include "core/bounded_json.h"
#include "deploy/server_process.h"
#include "loadgen/load_runner.h"
#include "loadgen/rate_search.h"

namespace fwbench::deploy {

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double Ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

nlohmann::json LatencyJson(const loadgen::LoadSummary& s) {
  return {{"p50_ms", Ms(s.latency.ValueAtPercentile(50))},
          {"p90_ms", Ms(s.latency.ValueAtPercentile(90))},
          {"p99_ms", Ms(s.latency.ValueAtPercentile(99))},
          {"max_ms", Ms(s.latency.max())}};
}

}  // namespace

nlohmann::json AsKserveAnswer(loadgen::LoadProtocol protocol, const std::string& body) {
  nlohmann::json j = ParseJsonOrDiscard(body);
  if (protocol != loadgen::LoadProtocol::kTorchServe || j.is_discarded()) return j;
  nlohmann::json flat = nlohmann::json::array();
  std::vector<const nlohmann::json*> stack = {&j};
  while (!stack.empty()) {
    const nlohmann::json* v = stack.back();
    stack.pop_back();
    if (v->is_array()) {
      for (auto it = v->rbegin(); it != v->rend(); ++it) stack.push_back(&*it);
    } else if (v->is_number()) {
      flat.push_back(*v);
    } else {
      return nlohmann::json(nlohmann::json::value_t::discarded);
    }
  }
  return {{"outputs", {{{"data", flat}}}}};
}

Readiness WaitUntilReady(ServerProcess& server, const loadgen::Url& url, double timeout_s,
                         const std::string& path, const std::string& marker) {
  const auto t0 = Clock::now();
  while (Since(t0) < timeout_s) {
    if (!server.Running()) return Readiness::kExited;
    const auto r = loadgen::Fetch(url, {"GET", path, "", "", {}}, std::chrono::milliseconds(1000));
    if (r.status == 200 && (marker.empty() || r.body.find(marker) != std::string::npos)) {
      return Readiness::kReady;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Readiness::kTimedOut;
}

nlohmann::json MeasureEndpoint(const ServerLaunch& launch, const EndpointOptions& o,
                               std::ostream& log) {
  const loadgen::Url url{"127.0.0.1", std::to_string(launch.port), "/"};
  const std::string slug = [&] {
    std::string s;
    for (const char c : launch.name)
      s.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
    return s;
  }();
  const auto t0 = Clock::now();
  ServerProcess server(launch.argv, o.log_dir / (slug + ".log"), launch.env);
  log << fmt::format("deploy: {}: started (pid {}), waiting for ready\n", launch.name,
                     server.pid());
  const loadgen::Url ready_url{
      "127.0.0.1", std::to_string(launch.ready_port != 0 ? launch.ready_port : launch.port), "/"};
  const Readiness readiness =
      WaitUntilReady(server, ready_url, o.ready_timeout_s, launch.ready_path, launch.ready_marker);
  if (readiness == Readiness::kExited) {
    throw std::runtime_error(fmt::format("{} exited with code {} before it was ready:\n{}",
                                         launch.name, server.exit_code(), server.LogTail()));
  }
  if (readiness == Readiness::kTimedOut) {
    throw std::runtime_error(fmt::format("{} was not ready after {:.0f} s:\n{}", launch.name,
                                         o.ready_timeout_s, server.LogTail()));
  }
  const double ready_s = Since(t0);
  const loadgen::LoadRequest request =
      loadgen::BuildInferRequest(launch.protocol, url, o.model, "", o.inputs, false, 1);
  const auto first = loadgen::Fetch(
      url, request, std::chrono::milliseconds(static_cast<std::int64_t>(o.ready_timeout_s * 1000)));
  const double first_s = Since(t0);
  if (first.status != 200) {
    throw std::runtime_error(fmt::format("{}: the first prediction got {} {}{}", launch.name,
                                         first.status, first.error, first.body.substr(0, 500)));
  }
  log << fmt::format("deploy: {}: ready after {:.2f} s, first prediction at {:.2f} s\n",
                     launch.name, ready_s, first_s);

  loadgen::LoadOptions lo;
  lo.duration_s = o.duration_s;
  lo.warmup_s = o.warmup_s;
  lo.timeout_s = std::max(30.0, o.p99_bound_ms / 100.0);
  loadgen::SummaryOptions so;
  so.warmup_ns = static_cast<std::int64_t>(o.warmup_s * 1e9);
  so.min_seconds = o.duration_s * 0.9;
  so.min_requests = 20;

  lo.connections = o.closed_loop_connections;
  const loadgen::LoadSummary closed = loadgen::Summarize(loadgen::RunLoad(request, lo), so);
  log << fmt::format("deploy: {}: closed loop at {} connections: {:.1f}/s, p99 {:.1f} ms\n",
                     launch.name, lo.connections, closed.achieved_per_s,
                     Ms(closed.latency.ValueAtPercentile(99)));

  loadgen::RateSearchOptions rs;
  rs.start_per_s = o.start_rate_per_s;
  rs.p99_bound_ns = static_cast<std::int64_t>(o.p99_bound_ms * 1e6);
  rs.bisection_steps = o.bisection_steps;
  rs.max_per_s = 1e5;
  nlohmann::json points = nlohmann::json::array();
  lo.open_loop = true;
  lo.connections = 256;
  const auto search = loadgen::SearchMaxRate(
      [&](double rate) {
        lo.rate_per_s = rate;
        loadgen::SummaryOptions s2 = so;
        s2.offered_per_s = rate;
        const auto s = loadgen::Summarize(loadgen::RunLoad(request, lo), s2);
        loadgen::LoadPoint p{rate, s.achieved_per_s, s.latency.ValueAtPercentile(99), s.requests,
                             s.requests - s.ok};
        const std::string failure = loadgen::Failure(p, rs);
        log << fmt::format("deploy: {}: {:.2f}/s offered → {:.2f}/s, p99 {:.1f} ms{}\n",
                           launch.name, rate, p.achieved_per_s, Ms(p.p99_ns),
                           failure.empty() ? "" : " (" + failure + ")");
        nlohmann::json j = {{"offered_per_s", rate},
                            {"achieved_per_s", s.achieved_per_s},
                            {"requests", s.requests},
                            {"errors", s.requests - s.ok},
                            {"error_kinds", s.errors}};
        j.update(LatencyJson(s));
        points.push_back(j);
        return p;
      },
      rs);
  const std::int64_t peak_rss = server.PeakRssBytes();
  const auto stop_t = Clock::now();
  const int exit_code = server.Stop(30.0);
  const double stop_s = Since(stop_t);
  log << fmt::format(
      "deploy: {}: highest rate with p99 ≤ {:.0f} ms: {:.2f}/s; stopped in {:.2f} s "
      "(exit {})\n",
      launch.name, o.p99_bound_ms, search.best_per_s, stop_s, exit_code);

  nlohmann::json closed_json = {{"connections", o.closed_loop_connections},
                                {"achieved_per_s", closed.achieved_per_s},
                                {"requests", closed.requests},
                                {"errors", closed.requests - closed.ok},
                                {"error_kinds", closed.errors}};
  closed_json.update(LatencyJson(closed));
  return {{"name", launch.name},
          {"steps", launch.steps},
          {"step_count", launch.steps.size()},
          {"time_to_ready_s", ready_s},
          {"time_to_first_prediction_s", first_s},
          {"first_prediction", AsKserveAnswer(launch.protocol, first.body)},
          {"closed_loop", closed_json},
          {"p99_bound_ms", o.p99_bound_ms},
          {"max_rate_per_s", search.best_per_s},
          {"why_not_higher", search.why_not_higher},
          {"search", points},
          {"peak_rss_bytes", peak_rss},
          {"stop_s", stop_s},
          {"exit_code", exit_code},
          // Uvicorn (0.29 on) shuts down gracefully and then re-raises the SIGTERM it caught,
          // as TorchServe's Python launcher dies of it (its Java frontend, in the same process
          // group, stops on the same signal); only the SIGKILL after the grace period is an
          // unclean stop.
          {"stopped_cleanly", exit_code == 0 || exit_code == 128 + SIGTERM}};
}

}  // namespace fwbench::deploy
