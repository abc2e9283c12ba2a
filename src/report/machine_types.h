#pragma once
// A run whose trials ran on machines of different types (a Slurm partition of mixed nodes):
// results from different machine types are never pooled into one confidence interval. Each
// configuration is reported once per machine type instead, as "ID @ TYPE", so the tables and
// verdicts compare the machines ("same plan, node type A vs B").
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fwbench {

// The machine types the trial records name (Slurm runs record each trial's), in order of first
// appearance; records without one count as none.
std::vector<std::string> MachineTypesOf(const std::vector<nlohmann::json>& records);

// With two or more machine types: every record's "config" becomes "ID @ TYPE" and every manifest
// configuration is listed once per type, with that id and a "machine_type" field. Returns the
// note the results carry about it, or "" when the run has one machine type (nothing changes).
std::string SplitByMachineType(nlohmann::json& manifest, std::vector<nlohmann::json>& records);

}  // namespace fwbench
