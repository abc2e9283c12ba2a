#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "core/error.h"
#include "loadgen/grpc_load.h"
#include "loadgen/load_runner.h"
#include "loadgen/protocol_request.h"
#include "loadgen/rate_search.h"

namespace fwbench::cli {

namespace {

struct LoadArgs {
  std::string url;
  std::string protocol = "raw";
  std::string model;
  std::string version;
  std::vector<std::string> inputs;  // NAME:DTYPE:1x3x224x224
  std::int64_t batch = 1;
  bool binary = false;
  bool grpc = false;
  std::string method;
  std::filesystem::path body_file;
  std::vector<std::string> headers;
  std::string token_env;
  int connections = 16;
  int threads = 1;
  double rate = 0.0;
  std::string arrival = "constant";
  std::uint64_t seed = 1;
  double duration_s = 10.0;
  double warmup_s = 1.0;
  double timeout_s = 10.0;
  int spin_us = 0;
  std::int64_t min_requests = 100;
  std::int64_t requests = 0;
  bool find_max_rate = false;
  double p99_ms = 100.0;
  double start_rate = 10.0;
  double max_rate = 1e6;
  std::filesystem::path json_out;
  bool quiet = false;
};

std::vector<std::int64_t> ParseShape(const std::string& text, const std::string& spec) {
  std::vector<std::int64_t> shape;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, 'x')) {
    try {
      std::size_t used = 0;
      const long long v = std::stoll(part, &used);
      if (used != part.size() || v <= 0) throw std::invalid_argument(part);
      shape.push_back(v);
    } catch (const std::exception&) {
      throw UsageError(
          fmt::format("--input '{}': shape '{}' must be positive integers joined by "
                      "'x', e.g. 1x3x224x224",
                      spec, text));
    }
  }
  if (shape.empty()) throw UsageError(fmt::format("--input '{}' has an empty shape", spec));
  return shape;
}

loadgen::InputSpec ParseInput(const std::string& spec) {
  const auto a = spec.find(':');
  const auto b = a == std::string::npos ? a : spec.find(':', a + 1);
  if (b == std::string::npos) {
    throw UsageError(
        fmt::format("--input '{}' must be NAME:DATATYPE:SHAPE, e.g. image:FP32:1x3x224x224", spec));
  }
  loadgen::InputSpec s{spec.substr(0, a), spec.substr(a + 1, b - a - 1), {}};
  if (s.datatype != "FP32" && s.datatype != "INT64") {
    throw UsageError(fmt::format("--input '{}': datatype must be FP32 or INT64", spec));
  }
  s.shape = ParseShape(spec.substr(b + 1), spec);
  return s;
}

std::string Ms(std::int64_t ns) { return fmt::format("{:.3f}", static_cast<double>(ns) / 1e6); }

void Print(const loadgen::LoadSummary& s, std::ostream& out) {
  out << fmt::format("requests {} measured ({} ok", s.requests, s.ok);
  for (const auto& [kind, n] : s.errors) out << fmt::format(", {} {}", n, kind);
  out << fmt::format(") over {:.2f} s\n", s.measured_s);
  if (s.offered_per_s > 0) {
    out << fmt::format("rate     offered {:.1f}/s, achieved {:.1f}/s\n", s.offered_per_s,
                       s.achieved_per_s);
  } else {
    out << fmt::format("rate     achieved {:.1f}/s (closed loop)\n", s.achieved_per_s);
  }
  const auto& h = s.latency;
  out << fmt::format(
      "latency  ms from the intended send time: p50 {} p90 {} p99 {} p99.9 {} max {} (mean "
      "{:.3f})\n",
      Ms(h.ValueAtPercentile(50)), Ms(h.ValueAtPercentile(90)), Ms(h.ValueAtPercentile(99)),
      Ms(h.ValueAtPercentile(99.9)), Ms(h.max()), h.mean() / 1e6);
  if (s.max_send_lag_ns > 1'000'000) {
    out << fmt::format("note     the generator sent up to {} ms late (counted in the latency)\n",
                       Ms(s.max_send_lag_ns));
  }
  for (const auto& why : s.invalid) out << "NOT VALID: " << why << "\n";
}

}  // namespace

Command AddLoadCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "load",
      "Load-test an HTTP endpoint: closed loop (--connections N, each sends when answered) or "
      "open loop (--rate R, constant or Poisson arrivals from a seed) with latency counted from "
      "each request's intended send time (no coordinated omission), p50/p90/p99/p99.9/max, "
      "achieved vs offered rate, errors by kind, warm-up excluded. --find-max-rate searches for "
      "the highest rate whose p99 stays under --p99-ms. Speaks KServe v2, TF Serving and "
      "TorchServe (--protocol, --model), so it can be pointed at fwbench serve, Triton, TF "
      "Serving or TorchServe; --protocol raw sends the URL as given. --grpc (or a grpc:// URL) "
      "sends KServe v2 ModelInfer over gRPC instead, to fwbench serve --grpc-port or Triton.");
  auto a = std::make_shared<LoadArgs>();
  cmd->add_option("url", a->url,
                  "http://HOST:PORT[/path] (raw: the full URL; other protocols: the server); "
                  "grpc://HOST:PORT for --grpc")
      ->required();
  cmd->add_option("--protocol", a->protocol, "raw, kserve, tfserving or torchserve")
      ->capture_default_str();
  cmd->add_option("--model", a->model, "Model name (protocols other than raw)");
  cmd->add_option("--model-version", a->version, "Model version (default: the latest)");
  cmd->add_option("--input", a->inputs,
                  "NAME:DATATYPE:SHAPE, e.g. image:FP32:1x3x224x224 (repeatable); default: asked "
                  "from the server's metadata (kserve, tfserving)");
  cmd->add_option("--batch", a->batch, "Batch size when the inputs come from the metadata")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  cmd->add_flag("--binary", a->binary, "KServe binary tensor extension for inputs and outputs");
  cmd->add_flag("--grpc", a->grpc,
                "KServe v2 over gRPC (inference.GRPCInferenceService/ModelInfer, tensors as "
                "raw_input_contents) to the URL's HOST:PORT; each connection is a channel with a "
                "TCP connection of its own and one call in flight");
  cmd->add_option("--method", a->method, "HTTP method for raw (GET, or POST with --body)");
  cmd->add_option("--body", a->body_file, "File sent as the body (raw)")->check(CLI::ExistingFile);
  cmd->add_option("--header", a->headers, "Extra header 'Name: value' (repeatable)");
  cmd->add_option("--token-env", a->token_env,
                  "Environment variable holding a bearer token to send");
  cmd->add_option("--connections,-c", a->connections,
                  "Closed loop: concurrent connections; open loop: most requests in flight")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_option("--threads,-t", a->threads, "Event-loop threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--rate", a->rate, "Open loop at this many requests/s (absent: closed loop)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--arrival", a->arrival, "constant or poisson (open loop)")
      ->check(CLI::IsMember({"constant", "poisson"}))
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed of the Poisson arrivals and the input values")
      ->capture_default_str();
  cmd->add_option("--duration", a->duration_s, "Measured seconds (after the warm-up)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--warmup", a->warmup_s, "Seconds of load left out of the results")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--timeout", a->timeout_s, "Per-request timeout in seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--spin-us", a->spin_us,
                  "Poll this many µs before a thread sleeps: the server then need not wake the "
                  "generator for each answer (measured +7% on a server-bound trivial endpoint, "
                  "docs/serve.md). Costs a core per thread; only where the generator has its own")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  cmd->add_option("--min-requests", a->min_requests,
                  "Fewer measured requests make the test NOT VALID")
      ->capture_default_str();
  cmd->add_option("--requests,-n", a->requests,
                  "Closed loop: stop after this many requests (the duration still caps it; the "
                  "warm-up's count too)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--find-max-rate", a->find_max_rate,
                "Search the highest open-loop rate with p99 under --p99-ms, no errors and at "
                "least 95% of the offered rate achieved");
  cmd->add_option("--p99-ms", a->p99_ms, "p99 bound for --find-max-rate")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--start-rate", a->start_rate, "First rate --find-max-rate tries")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-rate", a->max_rate, "Highest rate --find-max-rate tries")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--json", a->json_out, "Write the results (summary, every search point) here");
  cmd->add_flag("--quiet,-q", a->quiet, "No progress lines");
  return [a]() {
    std::string url_text = a->url;
    if (url_text.rfind("grpc://", 0) == 0) {
      a->grpc = true;
      url_text = "http://" + url_text.substr(7);
    }
    if (a->grpc && a->protocol == "raw") a->protocol = "kserve";
    const loadgen::LoadProtocol protocol = loadgen::ParseLoadProtocol(a->protocol);
    const loadgen::Url url = loadgen::ParseUrl(url_text);
    const std::string token = BearerTokenFromEnv(a->token_env);
    loadgen::LoadRequest request;
    loadgen::GrpcLoadRequest grpc_request;
    if (a->grpc) {
      if (protocol != loadgen::LoadProtocol::kKserveV2) {
        throw UsageError(fmt::format(
            "--grpc speaks KServe v2 (inference.GRPCInferenceService); --protocol {} is HTTP "
            "only. Leave --protocol out or give kserve",
            a->protocol));
      }
      if (a->binary || !a->headers.empty() || !a->body_file.empty() || !a->method.empty()) {
        throw UsageError(
            "--binary, --header, --body and --method are HTTP's; over gRPC tensors always go "
            "as raw bytes and the token (--token-env) as 'authorization' metadata");
      }
      if (a->model.empty()) throw UsageError("--grpc needs --model NAME");
      const std::string target = url.host + ":" + url.port;
      std::vector<loadgen::InputSpec> inputs;
      for (const auto& spec : a->inputs) inputs.push_back(ParseInput(spec));
      if (inputs.empty()) inputs = loadgen::FetchGrpcInputs(target, a->model, token, a->batch);
      grpc_request =
          loadgen::BuildGrpcInferRequest(target, a->model, a->version, inputs, a->seed, token);
      // One probe first, as over HTTP.
      const std::string probe = loadgen::ProbeGrpc(grpc_request, std::min(a->timeout_s, 10.0));
      if (probe.rfind("unavailable", 0) == 0) {
        throw UsageError(
            fmt::format("no gRPC answer from {}: {} (is the server running with "
                        "gRPC on that port?)",
                        target, probe));
      }
      if (!probe.empty()) {
        std::cerr << fmt::format("load: warning: the first call failed: {}\n",
                                 probe.substr(0, 300));
      }
    } else if (protocol == loadgen::LoadProtocol::kRaw) {
      if (!a->model.empty() || !a->inputs.empty() || a->binary) {
        throw UsageError(
            "--model, --input and --binary need --protocol kserve, tfserving or "
            "torchserve");
      }
      request.server = url;
      request.target = url.target;
      if (!a->body_file.empty()) {
        std::ifstream in(a->body_file, std::ios::binary);
        request.body.assign(std::istreambuf_iterator<char>(in), {});
        request.method = "POST";
      }
      if (!a->method.empty()) request.method = a->method;
    } else {
      if (a->model.empty()) {
        throw UsageError(fmt::format("--protocol {} needs --model NAME", a->protocol));
      }
      std::vector<loadgen::InputSpec> inputs;
      for (const auto& spec : a->inputs) inputs.push_back(ParseInput(spec));
      if (inputs.empty()) inputs = loadgen::FetchInputs(protocol, url, a->model, token, a->batch);
      request = loadgen::BuildInferRequest(protocol, url, a->model, a->version, inputs, a->binary,
                                           a->seed);
    }
    if (!token.empty() && !a->grpc) {
      request.headers.emplace_back("Authorization", "Bearer " + token);
    }
    for (const auto& h : a->headers) {
      const auto colon = h.find(':');
      if (colon == std::string::npos || colon == 0) {
        throw UsageError(fmt::format("--header '{}' must be 'Name: value'", h));
      }
      std::string value = h.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      request.headers.emplace_back(h.substr(0, colon), value);
    }
    // One probe first: a wrong URL or model is a clear message, not ten seconds of errors.
    if (!a->grpc) {
      const loadgen::HttpResult r = loadgen::Fetch(url, request);
      if (r.status == 0) {
        throw UsageError(fmt::format("no answer from http://{}:{}{}: {} (is the server running?)",
                                     url.host, url.port, request.target, r.error));
      }
      if (r.status >= 400) {
        std::cerr << fmt::format("load: warning: the first request got HTTP {}: {}\n", r.status,
                                 r.body.substr(0, 300));
      }
    }
    loadgen::LoadOptions options;
    options.connections = a->connections;
    options.threads = a->threads;
    options.arrival = a->arrival == "poisson" ? loadgen::ArrivalSchedule::Kind::kPoisson
                                              : loadgen::ArrivalSchedule::Kind::kConstant;
    options.seed = a->seed;
    options.duration_s = a->duration_s;
    options.warmup_s = a->warmup_s;
    options.timeout_s = a->timeout_s;
    options.spin_ns = std::int64_t{a->spin_us} * 1000;
    if (a->requests > 0) {
      if (a->rate > 0 || a->find_max_rate) {
        throw UsageError(
            "--requests limits a closed-loop test; an open loop sends what --rate "
            "and --duration say");
      }
      options.max_requests = a->requests;
    }
    if (!a->quiet) {
      options.progress = [](double elapsed, std::int64_t done) {
        std::cerr << fmt::format("load: {:.0f} s, {} requests\n", elapsed, done);
      };
    }
    loadgen::SummaryOptions summary_options;
    summary_options.warmup_ns = static_cast<std::int64_t>(a->warmup_s * 1e9);
    // With --requests the count is the goal, not the duration.
    summary_options.min_seconds = a->requests > 0 ? 0.0 : a->duration_s * 0.9;
    summary_options.min_requests =
        a->requests > 0 ? std::min(a->min_requests, a->requests) : a->min_requests;
    const auto run_at = [&](double rate) {
      loadgen::LoadOptions o = options;
      o.open_loop = rate > 0;
      o.rate_per_s = rate;
      loadgen::SummaryOptions so = summary_options;
      so.offered_per_s = rate;
      return loadgen::Summarize(
          a->grpc ? loadgen::RunGrpcLoad(grpc_request, o) : loadgen::RunLoad(request, o), so);
    };
    nlohmann::json out = {{"url", a->url},
                          {"protocol", a->protocol},
                          {"transport", a->grpc ? "grpc" : "http"},
                          {"model", a->model},
                          {"connections", a->connections},
                          {"threads", a->threads},
                          {"duration_s", a->duration_s},
                          {"warmup_s", a->warmup_s},
                          {"spin_us", a->spin_us},
                          {"arrival", a->rate > 0 || a->find_max_rate ? a->arrival : "closed"},
                          {"seed", a->seed}};
    bool valid = true;
    if (a->find_max_rate) {
      loadgen::RateSearchOptions so;
      so.start_per_s = a->start_rate;
      so.max_per_s = a->max_rate;
      so.p99_bound_ns = static_cast<std::int64_t>(a->p99_ms * 1e6);
      nlohmann::json points = nlohmann::json::array();
      const auto result = loadgen::SearchMaxRate(
          [&](double rate) {
            const auto s = run_at(rate);
            loadgen::LoadPoint p;
            p.offered_per_s = rate;
            p.achieved_per_s = s.achieved_per_s;
            p.p99_ns = s.latency.ValueAtPercentile(99);
            p.requests = s.requests;
            p.errors = s.requests - s.ok;
            std::cout << fmt::format("rate {:.1f}/s: achieved {:.1f}/s, p99 {} ms, {} errors{}\n",
                                     rate, p.achieved_per_s, Ms(p.p99_ns), p.errors,
                                     Failure(p, so).empty() ? "" : " — " + Failure(p, so));
            points.push_back(loadgen::ToJson(s));
            return p;
          },
          so);
      std::cout << fmt::format("highest rate with p99 ≤ {} ms: {:.1f}/s ({})\n", a->p99_ms,
                               result.best_per_s, result.why_not_higher);
      out["search"] = {{"p99_bound_ms", a->p99_ms},
                       {"best_per_s", result.best_per_s},
                       {"why_not_higher", result.why_not_higher},
                       {"points", points}};
    } else {
      const auto s = run_at(a->rate);
      Print(s, std::cout);
      out["summary"] = loadgen::ToJson(s);
      valid = s.invalid.empty();
    }
    if (!a->json_out.empty()) {
      std::ofstream f(a->json_out);
      f << out.dump(2) << "\n";
      if (!f) throw UsageError("cannot write --json " + a->json_out.string());
    }
    // A script that runs a load test must not take a test that measured nothing for a result.
    return valid ? kExitOk : kExitFailure;
  };
}

}  // namespace fwbench::cli
