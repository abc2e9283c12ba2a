#pragma once
// Append-only JSON Lines files of a run (events.jsonl, trials.jsonl). Each line is flushed as it
// is written, so killing the orchestrator loses nothing already measured.
#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace fwbench {

class JsonLinesAppender {
 public:
  explicit JsonLinesAppender(const std::filesystem::path& path);
  ~JsonLinesAppender();
  JsonLinesAppender(const JsonLinesAppender&) = delete;
  JsonLinesAppender& operator=(const JsonLinesAppender&) = delete;

  void Append(const nlohmann::json& record);
  // Forces the data to the disk (end of each trial), not just to the kernel.
  void Sync();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

}  // namespace fwbench
