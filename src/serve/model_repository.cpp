#include "serve/model_repository.h"

#include <fmt/format.h>

#include <algorithm>
#include <system_error>

#include "core/error.h"
#include "serve/routes.h"

namespace fwbench::serve {

namespace {

bool IsVersionName(const std::string& s) {
  return !s.empty() && s.size() <= 18 && s[0] != '0' &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Whether `path`, with every link resolved, lies inside `root` (already canonical).
bool Inside(const std::filesystem::path& path, const std::filesystem::path& root) {
  std::error_code ec;
  const auto real = std::filesystem::weakly_canonical(path, ec);
  if (ec) return false;
  const auto [r, p] = std::mismatch(root.begin(), root.end(), real.begin(), real.end());
  return r == root.end();
}

constexpr const char* kLayout =
    "Expected layout: REPO/NAME/config.toml and REPO/NAME/1/model.pt (TorchScript), model.pt2 "
    "(platform = \"aoti\", an AOTInductor package) or model.onnx (platform = \"onnx\"), one "
    "folder per numbered version; `fwbench deploy` writes one";

}  // namespace

std::vector<RepositoryModel> ScanRepository(const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    throw UsageError(
        fmt::format("model repository {} is not a folder. {}", root.string(), kLayout));
  }
  const fs::path real_root = fs::weakly_canonical(root, ec);
  std::vector<RepositoryModel> models;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    RepositoryModel m;
    m.name = entry.path().filename().string();
    if (m.name.empty() || m.name[0] == '.') continue;
    // A model in a folder named otherwise would load and report ready, yet no request could
    // reach it.
    if (!IsRoutableName(m.name)) {
      throw UsageError(fmt::format(
          "model folder '{}' ({}): a model's name is its folder's, and the server's URLs take "
          "letters, digits, '-', '_' and '.' (at most 128 characters); rename the folder",
          m.name, entry.path().string()));
    }
    const fs::path config = entry.path() / "config.toml";
    if (!fs::is_regular_file(config)) {
      throw UsageError(
          fmt::format("model '{}' has no config.toml ({}). {}", m.name, config.string(), kLayout));
    }
    m.config = ReadModelConfig(config, m.name);
    for (const auto& v : fs::directory_iterator(entry.path())) {
      const std::string name = v.path().filename().string();
      if (!v.is_directory() || !IsVersionName(name)) continue;
      const char* file_name = ModelFileName(m.config.platform);
      const fs::path file = v.path() / file_name;
      // Serving what a link points at elsewhere would serve files the repository's owner never
      // put in it (a shared folder, say), silently.
      if (!Inside(file, real_root)) {
        throw UsageError(fmt::format(
            "model '{}' version {}: {} resolves to {}, outside the repository {}; copy the "
            "model into the repository (links inside it are fine)",
            m.name, name, (v.path() / file_name).string(), fs::weakly_canonical(file, ec).string(),
            real_root.string()));
      }
      if (!fs::is_regular_file(file)) {
        throw UsageError(fmt::format("model '{}' version {} has no {} ({}; platform \"{}\"). {}",
                                     m.name, name, file_name, file.string(), m.config.platform,
                                     kLayout));
      }
      m.versions.push_back({name, file});
    }
    if (m.versions.empty()) {
      throw UsageError(fmt::format("model '{}' ({}) has no numbered version folder. {}", m.name,
                                   entry.path().string(), kLayout));
    }
    std::sort(m.versions.begin(), m.versions.end(), [](const auto& a, const auto& b) {
      return std::stoll(a.version) < std::stoll(b.version);
    });
    models.push_back(std::move(m));
  }
  if (models.empty()) {
    throw UsageError(fmt::format("model repository {} holds no model. {}", root.string(), kLayout));
  }
  std::sort(models.begin(), models.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return models;
}

}  // namespace fwbench::serve
