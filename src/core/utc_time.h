#pragma once
// Wall-clock timestamps for provenance (run ids, started/analysed times); never for timing.
#include <string>

namespace fwbench {

// The current UTC time formatted with strftime, e.g. "%Y-%m-%dT%H:%M:%SZ".
std::string UtcTimestamp(const char* strftime_format);

}  // namespace fwbench
