#include "report/machine_types.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <set>

namespace fwbench {

std::vector<std::string> MachineTypesOf(const std::vector<nlohmann::json>& records) {
  std::vector<std::string> types;
  for (const nlohmann::json& r : records) {
    const std::string type = r.value("machine_type", "");
    if (!type.empty() && std::find(types.begin(), types.end(), type) == types.end()) {
      types.push_back(type);
    }
  }
  return types;
}

std::string SplitByMachineType(nlohmann::json& manifest, std::vector<nlohmann::json>& records) {
  const std::vector<std::string> types = MachineTypesOf(records);
  if (types.size() < 2) return "";
  std::map<std::string, std::set<std::string>> nodes;
  // A trial lost with a node that ran nothing else has no type (its fingerprint was never
  // written): it is reported under "unknown machine", for its own configuration only.
  const std::string unknown = "unknown machine";
  std::set<std::string> unknown_configs;
  for (nlohmann::json& r : records) {
    std::string type = r.value("machine_type", "");
    if (type.empty()) {
      type = unknown;
      unknown_configs.insert(r.value("config", ""));
    }
    if (!r.value("node", "").empty()) nodes[type].insert(r.value("node", ""));
    r["config"] = fmt::format("{} @ {}", r.value("config", ""), type);
  }
  nlohmann::json split = nlohmann::json::array();
  std::vector<std::string> labels = types;
  if (!unknown_configs.empty()) labels.push_back(unknown);
  for (const nlohmann::json& c : manifest.at("configurations")) {
    for (const std::string& type : labels) {
      if (type == unknown && !unknown_configs.contains(c.value("id", ""))) continue;
      nlohmann::json copy = c;
      copy["id"] = fmt::format("{} @ {}", c.value("id", ""), type);
      copy["machine_type"] = type;
      split.push_back(std::move(copy));
    }
  }
  manifest["configurations"] = std::move(split);
  std::vector<std::string> described;
  described.reserve(labels.size());
  for (const std::string& type : labels) {
    described.push_back(nodes[type].empty()
                            ? type
                            : fmt::format("{} (nodes {})", type, fmt::join(nodes[type], ", ")));
  }
  return fmt::format(
      "the trials ran on {} machine types: {}; each configuration is reported per machine type "
      "(ID @ TYPE), never pooled across them",
      types.size(), fmt::join(described, "; "));
}

}  // namespace fwbench
