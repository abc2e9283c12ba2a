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
  for (nlohmann::json& r : records) {
    const std::string type = r.value("machine_type", "");
    // A trial lost with its node has no type of its own: it is counted where its node's
    // other trials are, or, for a node that ran nothing else, under "unknown machine".
    const std::string label = type.empty() ? "unknown machine" : type;
    if (r.contains("node")) nodes[label].insert(r.value("node", ""));
    r["config"] = fmt::format("{} @ {}", r.value("config", ""), label);
  }
  nlohmann::json split = nlohmann::json::array();
  std::vector<std::string> labels = types;
  if (std::any_of(records.begin(), records.end(),
                  [](const nlohmann::json& r) { return r.value("machine_type", "").empty(); })) {
    labels.emplace_back("unknown machine");
  }
  for (const nlohmann::json& c : manifest.at("configurations")) {
    for (const std::string& type : labels) {
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
      labels.size(), fmt::join(described, "; "));
}

}  // namespace fwbench
