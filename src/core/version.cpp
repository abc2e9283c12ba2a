#include "core/version.h"

namespace fwbench {

std::string FwbenchVersion() { return FWBENCH_VERSION; }
std::string FwbenchGitRevision() { return FWBENCH_GIT_REV; }
std::string FwbenchCompiler() { return FWBENCH_COMPILER; }
std::string FwbenchBuildType() { return FWBENCH_BUILD_TYPE; }

}  // namespace fwbench
