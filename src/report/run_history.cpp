#include "report/run_history.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <memory>

#include "core/error.h"
#include "core/trial_spec.h"

namespace fwbench {

namespace {

using Db = std::unique_ptr<sqlite3, decltype(&sqlite3_close)>;
using Stmt = std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)>;

Db Open(const std::filesystem::path& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Db db(raw, &sqlite3_close);
  if (rc != SQLITE_OK) {
    throw UsageError(fmt::format("{}: cannot open the run history: {}", path.string(),
                                 raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(raw, 5000);  // two runs finishing at once wait for each other
  return db;
}

void Exec(sqlite3* db, const char* sql, const std::filesystem::path& path) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    throw std::runtime_error(fmt::format("{}: {}", path.string(), message));
  }
}

Stmt Prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) {
    throw std::runtime_error(fmt::format("history: {}", sqlite3_errmsg(db)));
  }
  return Stmt(raw, &sqlite3_finalize);
}

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS runs ("
    " run_id TEXT PRIMARY KEY, path TEXT NOT NULL, started_utc TEXT, machine TEXT, plan TEXT,"
    " configurations INTEGER, trials_ok INTEGER, trials_failed INTEGER, complete INTEGER,"
    " headline TEXT, results_json TEXT)";

std::string Column(sqlite3_stmt* s, int i) {
  const unsigned char* text = sqlite3_column_text(s, i);
  return text ? reinterpret_cast<const char*>(text) : "";
}

}  // namespace

HistoryEntry SummariseRun(const std::filesystem::path& run_dir, const RunResults& results) {
  HistoryEntry e;
  // A results.json without a run id (RunResultsFromJson leaves it empty) is named by its folder.
  e.run_id = results.run_id.empty() ? run_dir.filename().string() : results.run_id;
  e.path = std::filesystem::absolute(run_dir).string();
  e.started_utc = results.started_utc;
  const nlohmann::json cpu = results.env.value("cpu", nlohmann::json::object());
  e.machine = fmt::format("{} ×{}", cpu.value("model", "?"), cpu.value("usable_cores", 0));
  e.plan = results.plan.value("name", "");
  e.complete = results.complete;
  std::string best_train, best_infer;
  double train = 0.0, infer = 0.0;
  for (const ConfigurationResult& c : results.configurations) {
    ++e.configurations;
    e.trials_ok += c.summary.trials_ok;
    e.trials_failed += c.summary.trials_failed;
    if (!c.ranked) continue;
    const MetricSummary* samples = c.Metric("samples_per_s");
    if (samples == nullptr) continue;
    const double v = samples->estimate.value;
    double& best = IsTrainingTask(c.task()) ? train : infer;
    std::string& name = IsTrainingTask(c.task()) ? best_train : best_infer;
    if (v > best) {
      best = v;
      name = c.id();
    }
  }
  if (!best_train.empty())
    e.headline += fmt::format("train: {} {:.4g} samples/s", best_train, train);
  if (!best_infer.empty()) {
    e.headline += fmt::format("{}infer: {} {:.4g} samples/s", e.headline.empty() ? "" : "; ",
                              best_infer, infer);
  }
  // Input pipelines: counted with the rest; the fastest the pipeline alone whose batches
  // matched the reference.
  std::string best_input;
  double input = 0.0;
  for (const ConfigurationResult& c : results.pipelines) {
    ++e.configurations;
    e.trials_ok += c.summary.trials_ok;
    e.trials_failed += c.summary.trials_failed;
    const MetricSummary* samples = c.Metric("samples_per_s");
    if (samples == nullptr || !c.pipeline || c.pipeline->check != "match" ||
        c.pipeline->model_step != "none" || samples->estimate.value <= input) {
      continue;
    }
    input = samples->estimate.value;
    best_input = c.id();
  }
  if (!best_input.empty()) {
    e.headline += fmt::format("{}input: {} {:.4g} samples/s", e.headline.empty() ? "" : "; ",
                              best_input, input);
  }
  return e;
}

void IndexRun(const std::filesystem::path& results_dir, const std::filesystem::path& run_dir,
              const RunResults& results) {
  const std::filesystem::path path = results_dir / "history.sqlite";
  Db db = Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  Exec(db.get(), kSchema, path);
  const HistoryEntry e = SummariseRun(run_dir, results);
  Stmt s = Prepare(db.get(),
                   "INSERT OR REPLACE INTO runs (run_id, path, started_utc, machine, plan, "
                   "configurations, trials_ok, trials_failed, complete, headline, results_json) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  const std::string json = ToJson(results).dump();
  int i = 0;
  for (const std::string* text : {&e.run_id, &e.path, &e.started_utc, &e.machine, &e.plan}) {
    sqlite3_bind_text(s.get(), ++i, text->c_str(), -1, SQLITE_TRANSIENT);
  }
  sqlite3_bind_int(s.get(), ++i, e.configurations);
  sqlite3_bind_int(s.get(), ++i, e.trials_ok);
  sqlite3_bind_int(s.get(), ++i, e.trials_failed);
  sqlite3_bind_int(s.get(), ++i, e.complete ? 1 : 0);
  sqlite3_bind_text(s.get(), ++i, e.headline.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s.get(), ++i, json.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(s.get()) != SQLITE_DONE) {
    throw std::runtime_error(fmt::format("{}: {}", path.string(), sqlite3_errmsg(db.get())));
  }
}

std::vector<HistoryEntry> ReadHistory(const std::filesystem::path& results_dir) {
  const std::filesystem::path path = results_dir / "history.sqlite";
  if (!std::filesystem::exists(path)) return {};
  Db db = Open(path, SQLITE_OPEN_READONLY);
  Stmt s = Prepare(db.get(),
                   "SELECT run_id, path, started_utc, machine, plan, configurations, trials_ok, "
                   "trials_failed, complete, headline FROM runs ORDER BY started_utc, run_id");
  std::vector<HistoryEntry> out;
  while (sqlite3_step(s.get()) == SQLITE_ROW) {
    HistoryEntry e;
    e.run_id = Column(s.get(), 0);
    e.path = Column(s.get(), 1);
    e.started_utc = Column(s.get(), 2);
    e.machine = Column(s.get(), 3);
    e.plan = Column(s.get(), 4);
    e.configurations = sqlite3_column_int(s.get(), 5);
    e.trials_ok = sqlite3_column_int(s.get(), 6);
    e.trials_failed = sqlite3_column_int(s.get(), 7);
    e.complete = sqlite3_column_int(s.get(), 8) != 0;
    e.headline = Column(s.get(), 9);
    out.push_back(std::move(e));
  }
  return out;
}

std::filesystem::path ResolveRun(const std::string& what,
                                 const std::filesystem::path& results_dir) {
  if (std::filesystem::is_directory(what)) return what;
  std::vector<HistoryEntry> matches;
  for (HistoryEntry& e : ReadHistory(results_dir)) {
    if (e.run_id.rfind(what, 0) == 0) matches.push_back(std::move(e));
  }
  if (matches.size() == 1) return matches.front().path;
  if (matches.empty()) {
    throw UsageError(
        fmt::format("{}: neither a run folder nor a run id in {} (see `fwbench history --out {}`)",
                    what, (results_dir / "history.sqlite").string(), results_dir.string()));
  }
  throw UsageError(fmt::format("{}: matches {} runs in the history ({}, …); give more of the id",
                               what, matches.size(), matches.front().run_id));
}

}  // namespace fwbench
