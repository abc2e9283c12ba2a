#include "orchestrate/event_log.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace fwbench {

JsonLinesAppender::JsonLinesAppender(const std::filesystem::path& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "ae");
  if (file_ == nullptr) {
    throw std::runtime_error(
        fmt::format("cannot open {} for appending: {}", path.string(), std::strerror(errno)));
  }
}

JsonLinesAppender::~JsonLinesAppender() {
  if (file_ != nullptr) std::fclose(file_);
}

void JsonLinesAppender::Append(const nlohmann::json& record) {
  const std::string line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fputc('\n', file_);
  if (std::fflush(file_) != 0) {
    throw std::runtime_error(
        fmt::format("cannot write {}: {}", path_.string(), std::strerror(errno)));
  }
}

void JsonLinesAppender::Sync() { fsync(fileno(file_)); }

}  // namespace fwbench
