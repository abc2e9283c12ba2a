#pragma once
// Provenance of this build of fwbench, recorded with every result.
#include <string>

namespace fwbench {

std::string FwbenchVersion();      // "0.1.0"
std::string FwbenchGitRevision();  // short hash, "+dirty" when built from a modified tree
std::string FwbenchCompiler();     // "GNU 12.2.0"
std::string FwbenchBuildType();    // "Release"

}  // namespace fwbench
