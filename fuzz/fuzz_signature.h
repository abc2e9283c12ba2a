#pragma once
// The signatures the fuzzed parsers check requests against: one input, and two of both types.
#include "serve/infer_request.h"

namespace fwbench::serve::fuzz {

inline const ModelSignature& OneInput() {
  static const ModelSignature s{"m", {{"x", "FP32", {-1, 2, 2}}}, {{"y", "FP32", {-1, 3}}}};
  return s;
}

inline const ModelSignature& TwoInputs() {
  static const ModelSignature s{
      "m2", {{"ids", "INT64", {-1, -1}}, {"mask", "FP32", {-1, 4}}}, {{"y", "FP32", {-1, 3}}}};
  return s;
}

}  // namespace fwbench::serve::fuzz
