#pragma once
// Task input_pipeline's correctness check (docs/data-pipelines.md): the first batches a
// framework's input pipeline delivered, as its trial wrote them (pipeline_batches.safetensors:
// "images" float32 [k·B, 3, 32, 32], "labels" int64 [k·B]), against fwbench's reference
// batches of the same files and seed (data/image_batcher.h): the same labels in the same order
// and the same pixels, bit for bit.
#include <filesystem>
#include <string>

#include "core/trial_spec.h"

namespace fwbench {

struct PipelineCheck {
  std::string status = "unchecked";  // match, differs, unchecked
  std::string detail;                // where they differ, or why there is no check
};

// `spec` is the trial's spec (its data, images folder, seed, batch size, augmentation).
PipelineCheck CheckPipelineBatches(const TrialSpec& spec, const std::filesystem::path& batches);

}  // namespace fwbench
