#include "report/report_charts.h"

#include <fmt/format.h>

#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "core/bounded_json.h"
#include "core/trial_spec.h"
#include "orchestrate/process.h"
#include "report/result_cells.h"

namespace fwbench::report {

namespace {

constexpr const char* kSchema = "https://vega.github.io/schema/vega-lite/v6.json";
constexpr const char* kChecked = "parity checked";
constexpr const char* kNotRanked = "not ranked (parity)";

// The configuration without the part every member of its group shares: "libtorch/compiled"
// for "libtorch/compiled/infer/b16" in the inference-at-batch-16 chart.
std::string LabelWithin(const ConfigurationResult& c) {
  const std::string& id = c.id();
  const std::string shared = fmt::format("/{}/b{}", c.task(), c.summary.batch_size);
  const std::size_t at = id.find(shared);
  return at == std::string::npos ? id : id.substr(0, at) + id.substr(at + shared.size());
}

std::string Status(const ConfigurationResult& c) { return c.ranked ? kChecked : kNotRanked; }

nlohmann::json StatusColor() {
  return {{"field", "status"},
          {"type", "nominal"},
          {"title", "parity gate"},
          {"scale", {{"domain", {kChecked, kNotRanked}}, {"range", {"#4c78a8", "#b8b8b8"}}}}};
}

nlohmann::json Base(const std::string& title) {
  return {{"$schema", kSchema},
          {"title", {{"text", title}, {"anchor", "start"}, {"fontSize", 14}}},
          {"width", 560},
          {"background", "white"},
          {"config",
           {{"font", "sans-serif"},
            {"view", {{"stroke", "#ddd"}}},
            {"axis", {{"labelLimit", 320}}},
            // Below the plot, so that the value labels right of the bars never run into it.
            {"legend", {{"orient", "bottom"}, {"direction", "horizontal"}}}}}};
}

// One chart per task and batch size: throughput medians with their CIs as whiskers.
std::vector<ChartSpec> ThroughputCharts(const RunResults& results) {
  std::vector<std::pair<std::string, std::int64_t>> groups;
  std::map<std::pair<std::string, std::int64_t>, nlohmann::json> values;
  for (const ConfigurationResult& c : results.configurations) {
    const MetricSummary* s = c.Metric("samples_per_s");
    if (s == nullptr) continue;
    const auto key = std::make_pair(c.task(), c.summary.batch_size);
    if (!values.contains(key)) groups.push_back(key);
    values[key].push_back({{"config", LabelWithin(c)},
                           {"median", s->estimate.value},
                           {"lo", s->estimate.ci_lo},
                           {"hi", s->estimate.ci_hi},
                           {"label", FormatWithCi(c, "samples_per_s")},
                           {"status", Status(c)}});
  }
  std::vector<ChartSpec> out;
  for (const auto& [task, batch] : groups) {
    ChartSpec chart;
    chart.id = fmt::format("throughput-{}-b{}", task, batch);
    chart.title = fmt::format("{} throughput, batch {} (samples/s, higher is better)",
                              IsTrainingTask(task) ? "Training" : "Inference", batch);
    chart.note =
        "Bars: median across trial processes; whiskers: 95% CI (hierarchical bootstrap over "
        "trials and steps). Grey bars did not pass the parity gate and are not ranked.";
    nlohmann::json sort = nlohmann::json::array();
    for (const auto& v : values[{task, batch}]) sort.push_back(v["config"]);
    chart.spec = Base(chart.title);
    chart.spec["height"] = {{"step", 26}};
    chart.spec["data"] = {{"values", values[{task, batch}]}};
    chart.spec["encoding"] = {
        {"y", {{"field", "config"}, {"type", "nominal"}, {"sort", sort}, {"title", nullptr}}}};
    chart.spec["layer"] = {
        {{"mark", {{"type", "bar"}, {"height", {{"band", 0.7}}}}},
         {"encoding",
          {{"x", {{"field", "median"}, {"type", "quantitative"}, {"title", "samples/s"}}},
           {"color", StatusColor()}}}},
        {{"mark", {{"type", "errorbar"}, {"ticks", true}, {"color", "#222"}}},
         {"encoding",
          {{"x", {{"field", "lo"}, {"type", "quantitative"}, {"title", "samples/s"}}},
           {"x2", {{"field", "hi"}}}}}},
        {{"mark", {{"type", "text"}, {"align", "left"}, {"dx", 6}, {"fontSize", 11}}},
         {"encoding",
          {{"x", {{"field", "hi"}, {"type", "quantitative"}, {"title", "samples/s"}}},
           {"text", {{"field", "label"}}}}}}};
    out.push_back(std::move(chart));
  }
  return out;
}

// Time to first batch: median of each phase stacked, whiskers for the CI of the total.
std::optional<ChartSpec> TtfbChart(const RunResults& results) {
  const std::vector<std::string> phases = PhaseNames(results);
  nlohmann::json segments = nlohmann::json::array();
  nlohmann::json totals = nlohmann::json::array();
  nlohmann::json sort = nlohmann::json::array();
  for (const ConfigurationResult& c : results.configurations) {
    const MetricSummary* ttfb = c.Metric("ttfb_s");
    if (ttfb == nullptr) continue;
    const std::string& id = c.id();
    sort.push_back(id);
    for (std::size_t i = 0; i < phases.size(); ++i) {
      const MetricSummary* phase = c.Metric("phase." + phases[i] + "_s");
      if (phase == nullptr) continue;
      segments.push_back(
          {{"config", id}, {"phase", phases[i]}, {"order", i}, {"seconds", phase->estimate.value}});
    }
    totals.push_back({{"config", id},
                      {"lo", ttfb->estimate.ci_lo},
                      {"hi", ttfb->estimate.ci_hi},
                      {"label", FormatWithCi(c, "ttfb_s") + " s"}});
  }
  if (totals.empty()) return std::nullopt;
  ChartSpec chart;
  chart.id = "ttfb-phases";
  chart.title = "Time to first batch by phase (s, lower is better)";
  chart.note =
      "Segments: median of each phase across trial processes (medians need not add up exactly "
      "to the median total); whiskers: 95% CI of the total, from process spawn to the end of the "
      "first step.";
  chart.spec = Base(chart.title);
  chart.spec["height"] = {{"step", 22}};
  const nlohmann::json y = {
      {"field", "config"}, {"type", "nominal"}, {"sort", sort}, {"title", nullptr}};
  chart.spec["layer"] = {
      {{"data", {{"values", segments}}},
       {"mark", {{"type", "bar"}, {"height", {{"band", 0.7}}}}},
       {"encoding",
        {{"y", y},
         {"x",
          {{"field", "seconds"},
           {"type", "quantitative"},
           {"stack", "zero"},
           {"title", "seconds"}}},
         {"color",
          {{"field", "phase"},
           {"type", "nominal"},
           {"title", "phase"},
           {"sort", phases},
           {"scale", {{"domain", phases}, {"scheme", "tableau10"}}}}},
         {"order", {{"field", "order"}, {"type", "quantitative"}}}}}},
      {{"data", {{"values", totals}}},
       {"mark", {{"type", "errorbar"}, {"ticks", true}, {"color", "#222"}}},
       {"encoding",
        {{"y", y},
         {"x", {{"field", "lo"}, {"type", "quantitative"}, {"title", "seconds"}}},
         {"x2", {{"field", "hi"}}}}}},
      {{"data", {{"values", totals}}},
       {"mark", {{"type", "text"}, {"align", "left"}, {"dx", 6}, {"fontSize", 11}}},
       {"encoding",
        {{"y", y},
         {"x", {{"field", "hi"}, {"type", "quantitative"}, {"title", "seconds"}}},
         {"text", {{"field", "label"}}}}}}};
  return chart;
}

// Inference latency against batch size, one line per backend and mode, p50 and p99.
std::optional<ChartSpec> LatencyChart(const RunResults& results) {
  nlohmann::json points = nlohmann::json::array();
  std::set<std::int64_t> batches;
  for (const ConfigurationResult& c : results.configurations) {
    if (c.task() != "infer") continue;
    for (const char* p : {"p50", "p99"}) {
      const MetricSummary* m = c.Metric(fmt::format("latency_{}_ms", p));
      if (m == nullptr) continue;
      const std::int64_t batch = c.summary.batch_size;
      batches.insert(batch);
      points.push_back({{"series", LabelWithin(c)},
                        {"batch", batch},
                        {"percentile", p},
                        {"median", m->estimate.value},
                        {"lo", m->estimate.ci_lo},
                        {"hi", m->estimate.ci_hi},
                        {"status", Status(c)}});
    }
  }
  if (points.empty()) return std::nullopt;
  ChartSpec chart;
  chart.id = "latency-vs-batch";
  chart.title = "Inference latency against batch size (ms per batch, log scales)";
  chart.note =
      "Left: p50, right: p99 of the steady-state forward passes of each trial; points: median "
      "across trial processes; whiskers: 95% CI.";
  chart.spec = Base(chart.title);
  chart.spec["height"] = 320;
  chart.spec.erase("width");
  chart.spec["data"] = {{"values", points}};
  const nlohmann::json x = {
      {"field", "batch"},
      {"type", "quantitative"},
      {"title", "batch size"},
      {"scale", {{"type", "log"}, {"base", 2}, {"nice", false}, {"padding", 12}}},
      {"axis", {{"values", nlohmann::json(batches)}, {"format", "d"}}}};
  const nlohmann::json y_scale = {{"type", "log"}, {"nice", false}, {"padding", 8}};
  // One panel per percentile (p50 left, p99 right) on a shared y axis.
  chart.spec["facet"] = {{"column",
                          {{"field", "percentile"},
                           {"type", "nominal"},
                           {"title", nullptr},
                           {"sort", {"p50", "p99"}}}}};
  chart.spec["resolve"] = {{"scale", {{"y", "shared"}}}};
  chart.spec["spec"] = {{"width", 300},
                        {"height", 260},
                        {"encoding",
                         {{"x", x},
                          {"color",
                           {{"field", "series"},
                            {"type", "nominal"},
                            {"title", "backend/mode"},
                            {"legend", {{"labelLimit", 320}, {"columns", 3}}}}}}},
                        {"layer",
                         {{{"mark", {{"type", "line"}, {"point", true}}},
                           {"encoding",
                            {{"y",
                              {{"field", "median"},
                               {"type", "quantitative"},
                               {"title", "ms per batch"},
                               {"scale", y_scale}}}}}},
                          {{"mark", {{"type", "errorbar"}, {"ticks", true}}},
                           {"encoding",
                            {{"y",
                              {{"field", "lo"},
                               {"type", "quantitative"},
                               {"title", "ms per batch"},
                               {"scale", y_scale}}},
                             {"y2", {{"field", "hi"}}}}}}}}};
  return chart;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::vector<ChartSpec> BuildChartSpecs(const RunResults& results) {
  std::vector<ChartSpec> charts = ThroughputCharts(results);
  if (auto c = TtfbChart(results)) charts.push_back(std::move(*c));
  if (auto c = LatencyChart(results)) charts.push_back(std::move(*c));
  return charts;
}

std::filesystem::path ChartsToolDir(const std::filesystem::path& self_exe) {
  if (const char* env = std::getenv("FWBENCH_CHARTS_DIR"); env != nullptr && *env != '\0') {
    return std::filesystem::absolute(env);
  }
  std::filesystem::path beside = self_exe.parent_path().parent_path() / "tools" / "charts";
  if (std::filesystem::is_regular_file(beside / "render.mjs")) return beside;
  return std::filesystem::path(FWBENCH_SOURCE_DIR) / "tools" / "charts";
}

RenderedCharts RenderCharts(const std::vector<ChartSpec>& charts,
                            const std::filesystem::path& out_dir,
                            const std::filesystem::path& tool_dir) {
  RenderedCharts out;
  out.svg.assign(charts.size(), "");
  out.error.assign(charts.size(), "");
  const auto fail_all = [&](const std::string& why) {
    for (std::string& e : out.error) e = why;
    return out;
  };
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return fail_all(fmt::format("cannot create {}: {}", out_dir.string(), ec.message()));
  // Old SVGs of charts this report no longer has would otherwise linger beside the new ones.
  for (const auto& entry : std::filesystem::directory_iterator(out_dir, ec)) {
    if (entry.path().extension() == ".svg") std::filesystem::remove(entry.path(), ec);
  }
  nlohmann::json specs = {{"charts", nlohmann::json::array()}};
  for (const ChartSpec& c : charts) {
    specs["charts"].push_back(
        {{"id", c.id}, {"title", c.title}, {"note", c.note}, {"spec", c.spec}});
  }
  const std::filesystem::path specs_path = out_dir / "specs.json";
  {
    std::ofstream file(specs_path);
    file << specs.dump(1) << "\n";
    if (!file) return fail_all(fmt::format("cannot write {}", specs_path.string()));
  }
  if (charts.empty()) return out;

  const std::filesystem::path script = tool_dir / "render.mjs";
  if (!std::filesystem::is_regular_file(script)) {
    return fail_all(
        fmt::format("the chart renderer {} is missing (set FWBENCH_CHARTS_DIR to the "
                    "tools/charts folder of fwbench's source tree)",
                    script.string()));
  }
  if (!std::filesystem::is_directory(tool_dir / "node_modules" / "vega-lite")) {
    return fail_all(
        fmt::format("{} has no node_modules: run scripts/install-deps.sh (it runs "
                    "`npm ci` there) to install Vega and Vega-Lite",
                    tool_dir.string()));
  }
  const char* node_env = std::getenv("FWBENCH_NODE");
  ProcessOptions options;
  options.argv = {node_env != nullptr && *node_env != '\0' ? node_env : "node", script.string(),
                  specs_path.string(), out_dir.string()};
  options.stderr_path = out_dir / "render.stderr.txt";
  options.timeout_s = 120.0;
  std::map<std::string, nlohmann::json> answers;
  const ProcessResult result = RunProcess(options, [&](std::string_view line) {
    nlohmann::json j = ParseJsonOrDiscard(line);
    if (!j.is_object()) return true;
    if (j.contains("vega")) {
      out.renderer =
          fmt::format("Vega {}, Vega-Lite {}", j.value("vega", "?"), j.value("vega_lite", "?"));
    } else if (j.contains("id")) {
      const std::string id = j.value("id", "");
      answers[id] = std::move(j);
    }
    return true;
  });
  std::string stderr_tail = ReadFile(options.stderr_path);
  while (!stderr_tail.empty() && stderr_tail.back() == '\n') stderr_tail.pop_back();
  if (stderr_tail.size() > 400) stderr_tail = "…" + stderr_tail.substr(stderr_tail.size() - 400);
  // exec failing in the child is exit code 127 with the reason on stderr.
  if (!result.started || (result.exit_code == 127 && out.renderer.empty())) {
    return fail_all(
        fmt::format("could not start Node.js ({}): install it with scripts/install-deps.sh or set "
                    "FWBENCH_NODE",
                    result.started ? stderr_tail : result.start_error));
  }
  for (std::size_t i = 0; i < charts.size(); ++i) {
    const auto it = answers.find(charts[i].id);
    if (it == answers.end()) {
      out.error[i] =
          result.timed_out
              ? "the renderer timed out"
              : fmt::format("the renderer exited ({}) without rendering it: {}",
                            result.term_signal != 0 ? DescribeSignal(result.term_signal)
                                                    : fmt::format("code {}", result.exit_code),
                            stderr_tail.empty() ? "no message" : stderr_tail);
    } else if (it->second.contains("error")) {
      out.error[i] = "Vega-Lite: " + it->second.value("error", "?");
    } else {
      out.svg[i] = ReadFile(out_dir / (charts[i].id + ".svg"));
      if (out.svg[i].rfind("<svg", 0) != 0) {
        out.svg[i].clear();
        out.error[i] = "the renderer wrote no SVG";
      }
    }
  }
  return out;
}

}  // namespace fwbench::report
