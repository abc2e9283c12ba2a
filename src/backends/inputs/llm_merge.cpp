#include "backends/inputs/llm_merge.h"

#include "models/llama_checkpoint.h"

namespace fwbench {

void MergeLoraAdapter(const std::filesystem::path& base, const std::filesystem::path& adapter,
                      const std::filesystem::path& out) {
  models::MergeAdapterIntoCheckpoint(base, adapter, out);
}

}  // namespace fwbench
