#include "core/protocol.h"

#include <fmt/format.h>

#include <unistd.h>
#include <array>
#include <cmath>

#include "core/bounded_json.h"
#include "core/clock.h"

namespace fwbench::protocol {

namespace {

// Steps are the hot event (thousands per trial): formatted directly rather than through a json
// object. bench/protocol_bench.cpp measures this path.
void FormatStepLine(fmt::memory_buffer& buf, std::int64_t index, std::int64_t t0_ns,
                    std::int64_t t1_ns, std::int64_t samples, std::optional<double> loss,
                    const EventWriter::Tokens* tokens, std::optional<std::int64_t> t_input_ns) {
  fmt::format_to(std::back_inserter(buf), R"({{"event":"step","i":{},"t0":{},"t1":{},"samples":{})",
                 index, t0_ns, t1_ns, samples);
  if (t_input_ns) fmt::format_to(std::back_inserter(buf), R"(,"t_input":{})", *t_input_ns);
  if (loss.has_value()) {
    if (std::isfinite(*loss)) {
      fmt::format_to(std::back_inserter(buf), R"(,"loss":{})", *loss);
    } else {
      fmt::format_to(std::back_inserter(buf), R"(,"loss":null)");
    }
  }
  if (tokens != nullptr) {
    fmt::format_to(std::back_inserter(buf), R"(,"tokens":{})", tokens->tokens);
    if (tokens->prompt_tokens) {
      fmt::format_to(std::back_inserter(buf), R"(,"prompt_tokens":{})", *tokens->prompt_tokens);
    }
    if (tokens->t_first_token) {
      fmt::format_to(std::back_inserter(buf), R"(,"t_first_token":{})", *tokens->t_first_token);
    }
  }
  buf.push_back('}');
  buf.push_back('\n');
}

void WriteStepLine(std::FILE* out, std::int64_t index, std::int64_t t0_ns, std::int64_t t1_ns,
                   std::int64_t samples, std::optional<double> loss,
                   const EventWriter::Tokens* tokens) {
  fmt::memory_buffer buf;
  FormatStepLine(buf, index, t0_ns, t1_ns, samples, loss, tokens, std::nullopt);
  std::fwrite(buf.data(), 1, buf.size(), out);
  std::fflush(out);
}

}  // namespace

void EventWriter::WritePipelineSteps(const std::vector<PipelineStep>& steps) {
  fmt::memory_buffer buf;
  for (const PipelineStep& s : steps) {
    FormatStepLine(buf, s.index, s.t0_ns, s.t1_ns, s.samples, s.loss, nullptr, s.t_input_ns);
  }
  std::fwrite(buf.data(), 1, buf.size(), out_);
  std::fflush(out_);
}

void EventWriter::WriteLine(const nlohmann::json& event) {
  const std::string line = event.dump();
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fputc('\n', out_);
  std::fflush(out_);
}

nlohmann::json ToJson(const std::vector<ThreadPool>& pools) {
  nlohmann::json out = nlohmann::json::array();
  for (const ThreadPool& p : pools) {
    out.push_back({{"name", p.name}, {"role", p.role}, {"set", p.set}, {"read", p.read}});
  }
  return out;
}

void EventWriter::WriteHello(const Hello& hello) {
  WriteLine({{"event", "hello"},
             {"protocol_version", kVersion},
             {"t", MonotonicNs()},
             {"t_main", hello.t_main_ns},
             {"pid", static_cast<std::int64_t>(getpid())},
             {"framework", hello.framework},
             {"framework_version", hello.framework_version},
             {"backend", hello.backend},
             {"mode", hello.mode},
             {"device", hello.device},
             {"threads", hello.threads},
             {"thread_pools", ToJson(hello.thread_pools)},
             {"extra", hello.extra}});
}

void EventWriter::WritePhase(std::string_view name, std::int64_t t0_ns, std::int64_t t1_ns) {
  WriteLine({{"event", "phase"}, {"name", name}, {"t0", t0_ns}, {"t1", t1_ns}});
}

void EventWriter::WriteStep(std::int64_t index, std::int64_t t0_ns, std::int64_t t1_ns,
                            std::int64_t samples, std::optional<double> loss) {
  WriteStepLine(out_, index, t0_ns, t1_ns, samples, loss, nullptr);
}

void EventWriter::WriteStep(std::int64_t index, std::int64_t t0_ns, std::int64_t t1_ns,
                            std::int64_t samples, std::optional<double> loss,
                            const Tokens& tokens) {
  WriteStepLine(out_, index, t0_ns, t1_ns, samples, loss, &tokens);
}

void EventWriter::WriteMetric(std::string_view name, double value, std::string_view unit) {
  WriteLine({{"event", "metric"}, {"name", name}, {"value", value}, {"unit", unit}});
}

void EventWriter::WriteOutput(std::string_view name, std::string_view path) {
  WriteLine({{"event", "output"}, {"name", name}, {"path", path}});
}

void EventWriter::WriteError(std::string_view kind, std::string_view message) {
  WriteLine({{"event", "error"}, {"kind", kind}, {"message", message}});
}

void EventWriter::WriteDone(std::int64_t steps) {
  WriteLine({{"event", "done"}, {"t", MonotonicNs()}, {"steps", steps}});
}

std::string_view EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kHello:
      return "hello";
    case EventKind::kPhase:
      return "phase";
    case EventKind::kStep:
      return "step";
    case EventKind::kMetric:
      return "metric";
    case EventKind::kOutput:
      return "output";
    case EventKind::kError:
      return "error";
    case EventKind::kDone:
      return "done";
  }
  return "?";
}

namespace {

struct Requirement {
  const char* field;
  nlohmann::json::value_t type;  // number_integer stands for "any integer"
};

bool HasType(const nlohmann::json& v, nlohmann::json::value_t type) {
  using T = nlohmann::json::value_t;
  switch (type) {
    case T::number_integer:
      return v.is_number_integer();
    case T::number_float:
      return v.is_number();
    case T::string:
      return v.is_string();
    default:
      return v.type() == type;
  }
}

const char* TypeName(nlohmann::json::value_t type) {
  using T = nlohmann::json::value_t;
  switch (type) {
    case T::number_integer:
      return "an integer";
    case T::number_float:
      return "a number";
    case T::string:
      return "a string";
    default:
      return "a value";
  }
}

std::string Excerpt(std::string_view line) {
  constexpr std::size_t kMax = 80;
  std::string s(line.substr(0, kMax));
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  }
  if (line.size() > kMax) s += "…";
  return s;
}

}  // namespace

std::optional<ParsedEvent> ParseEventLine(std::string_view line, std::string& error) {
  using T = nlohmann::json::value_t;
  nlohmann::json body = ParseJsonOrDiscard(line);
  if (body.is_discarded() || !body.is_object()) {
    error = fmt::format("not a JSON object on stdout: '{}' (workers must log to stderr)",
                        Excerpt(line));
    return std::nullopt;
  }
  const auto kind_it = body.find("event");
  if (kind_it == body.end() || !kind_it->is_string()) {
    error = fmt::format("event without a string \"event\" field: '{}'", Excerpt(line));
    return std::nullopt;
  }
  static const std::array<std::pair<EventKind, std::vector<Requirement>>, 7> kSchemas = {{
      {EventKind::kHello,
       {{"protocol_version", T::number_integer},
        {"t_main", T::number_integer},
        {"framework", T::string},
        {"framework_version", T::string},
        {"backend", T::string},
        {"mode", T::string},
        {"device", T::string},
        {"threads", T::number_integer}}},
      {EventKind::kPhase,
       {{"name", T::string}, {"t0", T::number_integer}, {"t1", T::number_integer}}},
      {EventKind::kStep,
       {{"i", T::number_integer},
        {"t0", T::number_integer},
        {"t1", T::number_integer},
        {"samples", T::number_integer}}},
      {EventKind::kMetric, {{"name", T::string}, {"value", T::number_float}, {"unit", T::string}}},
      {EventKind::kOutput, {{"name", T::string}, {"path", T::string}}},
      {EventKind::kError, {{"kind", T::string}, {"message", T::string}}},
      {EventKind::kDone, {{"t", T::number_integer}, {"steps", T::number_integer}}},
  }};
  const std::string& name = kind_it->get_ref<const std::string&>();
  for (const auto& [kind, requirements] : kSchemas) {
    if (EventKindName(kind) != name) continue;
    for (const Requirement& r : requirements) {
      const auto it = body.find(r.field);
      if (it == body.end() || !HasType(*it, r.type)) {
        error = fmt::format("\"{}\" event needs \"{}\" as {}: '{}'", name, r.field,
                            TypeName(r.type), Excerpt(line));
        return std::nullopt;
      }
    }
    if ((kind == EventKind::kPhase || kind == EventKind::kStep) &&
        body["t1"].get<std::int64_t>() < body["t0"].get<std::int64_t>()) {
      error =
          fmt::format("\"{}\" event ends before it starts (t1 < t0): '{}'", name, Excerpt(line));
      return std::nullopt;
    }
    if (kind == EventKind::kStep && body.contains("loss") && !body["loss"].is_number() &&
        !body["loss"].is_null()) {
      error = fmt::format("\"step\" event has a non-numeric \"loss\": '{}'", Excerpt(line));
      return std::nullopt;
    }
    if (kind == EventKind::kStep) {
      for (const char* field : {"tokens", "prompt_tokens", "t_first_token", "t_input"}) {
        if (body.contains(field) &&
            !(body[field].is_number_integer() && body[field].get<std::int64_t>() >= 0)) {
          error = fmt::format("\"step\" event has \"{}\" that is not a non-negative integer: '{}'",
                              field, Excerpt(line));
          return std::nullopt;
        }
      }
      for (const char* field : {"t_first_token", "t_input"}) {
        if (!body.contains(field)) continue;
        const auto t = body[field].get<std::int64_t>();
        if (t < body["t0"].get<std::int64_t>() || t > body["t1"].get<std::int64_t>()) {
          error =
              fmt::format("\"step\" event has \"{}\" outside [t0, t1]: '{}'", field, Excerpt(line));
          return std::nullopt;
        }
      }
    }
    return ParsedEvent{kind, std::move(body)};
  }
  error = fmt::format(
      "unknown event \"{}\" (expected hello, phase, step, metric, output, error "
      "or done)",
      Excerpt(name));
  return std::nullopt;
}

std::optional<std::string> CheckThreadPools(const nlohmann::json& hello, int threads,
                                            int loader_workers) {
  const auto it = hello.find("thread_pools");
  if (it == hello.end() || !it->is_array()) {
    return std::string(
        "hello has no \"thread_pools\" array: a worker sets its thread pools before hello and "
        "reports each as {\"name\", \"role\", \"set\", \"read\"} (docs/protocol.md; plan "
        "thread_hygiene = false runs workers that do not)");
  }
  const auto& pools = *it;
  int compute = 0;
  int loaders = 0;
  for (const nlohmann::json& p : pools) {
    if (!p.is_object() || !p.contains("name") || !p["name"].is_string() || !p.contains("role") ||
        !p["role"].is_string() || !p.contains("set") || !p["set"].is_number_integer() ||
        !p.contains("read") || !p["read"].is_number_integer()) {
      return fmt::format(
          "a thread pool in hello is not {{\"name\": string, \"role\": \"compute\"|\"pinned\", "
          "\"set\": integer, \"read\": integer}}: {}",
          p.dump());
    }
    const auto name = p["name"].get<std::string>();
    const auto role = p["role"].get<std::string>();
    const auto set = p["set"].get<std::int64_t>();
    const auto read = p["read"].get<std::int64_t>();
    if (role != "compute" && role != "pinned" && (role != "loader" || loader_workers == 0)) {
      return fmt::format("thread pool \"{}\" has role \"{}\" (expected compute or pinned{})", name,
                         role, loader_workers == 0 ? "" : " or loader");
    }
    const std::int64_t want = role == "compute" ? threads : role == "loader" ? loader_workers : 1;
    if (set != want) {
      if (role == "loader") {
        return fmt::format(
            "loader pool \"{}\" was set to {}; the configuration names {} loader "
            "worker{}",
            name, set, loader_workers, loader_workers == 1 ? "" : "s");
      }
      return fmt::format(
          "{} thread pool \"{}\" was set to {} thread{}; a trial of {} thread{} sets it to {}",
          role, name, set, set == 1 ? "" : "s", threads, threads == 1 ? "" : "s", want);
    }
    if (read != set) {
      return fmt::format(
          "thread pool \"{}\" was set to {} thread{} but the library reports {}: "
          "the trial would not run with the threads its configuration names",
          name, set, set == 1 ? "" : "s", read);
    }
    if (role == "compute") ++compute;
    if (role == "loader") ++loaders;
  }
  if (loader_workers > 0 && loaders == 0) {
    return fmt::format(
        "hello names no loader thread pool (\"thread_pools\": {}): an input pipeline with {} "
        "workers reports them as a pool of role \"loader\"",
        pools.dump(), loader_workers);
  }
  if (compute == 0) {
    return fmt::format(
        "hello names no compute thread pool (\"thread_pools\": {}): a worker "
        "reports the pool it runs on with the configuration's {} threads",
        pools.dump(), threads);
  }
  return std::nullopt;
}

}  // namespace fwbench::protocol
