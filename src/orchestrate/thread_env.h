#pragma once
// The environment every trial process starts with, so that the libraries it loads create one
// compute pool of the configuration's threads from the start (docs/workers.md, "Thread pools").
// Workers also set their pools through the libraries' own calls and report the read-back in
// `hello`; these variables keep the pools that libraries create at load time from ever existing.
#include <string>
#include <vector>

namespace fwbench {

// With `hygiene` false: only FWBENCH_THREAD_HYGIENE=off, which tells the workers to set their
// compute pool alone and leave every other pool at the library's default.
std::vector<std::string> TrialThreadEnvironment(int threads, bool hygiene = true);

}  // namespace fwbench
