#include "orchestrate/event_log.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/error.h"

namespace fwbench {

JsonLinesAppender::JsonLinesAppender(const std::filesystem::path& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "ae");
  if (file_ == nullptr) throw WriteError(WriteErrorMessage(path.string(), errno));
}

JsonLinesAppender::~JsonLinesAppender() {
  if (file_ != nullptr) std::fclose(file_);
}

void JsonLinesAppender::Append(const nlohmann::json& record) {
  const std::string line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  errno = 0;
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fputc('\n', file_);
  if (std::fflush(file_) != 0 || std::ferror(file_) != 0) {
    throw WriteError(WriteErrorMessage(path_.string(), errno));
  }
}

void JsonLinesAppender::Sync() { fsync(fileno(file_)); }

}  // namespace fwbench
