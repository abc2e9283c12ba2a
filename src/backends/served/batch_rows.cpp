#include "backends/served/batch_rows.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace fwbench {

template <typename T>
BatchedInput<T> ConcatRows(const std::vector<const serve::InferRequest*>& requests,
                           std::size_t index) {
  BatchedInput<T> b;
  const std::vector<std::int64_t>& first = requests.at(0)->inputs.at(index).shape;
  std::int64_t rows = 0;
  for (const auto* r : requests) {
    const serve::InputTensor& t = r->inputs.at(index);
    if (t.shape.empty() ||
        !std::equal(t.shape.begin() + 1, t.shape.end(), first.begin() + 1, first.end())) {
      throw std::runtime_error(fmt::format(
          "input '{}': requests of different shapes past the batch dimension cannot share a "
          "batch (set max_batch_size = 1 for this model)",
          t.name));
    }
    rows += t.shape[0];
  }
  const auto values_of = [](const serve::InputTensor& t) -> const serve::TensorValues<T>& {
    if constexpr (std::is_same_v<T, float>) {
      return t.fp32;
    } else {
      return t.int64;
    }
  };
  if (requests.size() == 1) {
    const serve::TensorValues<T>& only = values_of(requests[0]->inputs[index]);
    b.values = serve::TensorValues<T>::View(only.data(), only.size(), nullptr);
  } else {
    std::size_t total = 0;
    for (const auto* r : requests) total += values_of(r->inputs[index]).size();
    b.values.reserve(total);
    for (const auto* r : requests) {
      const serve::TensorValues<T>& v = values_of(r->inputs[index]);
      b.values.append(v.begin(), v.end());
    }
  }
  std::int64_t per_row = 1;
  for (std::size_t d = 1; d < first.size(); ++d) per_row *= first[d];
  if (per_row * rows != static_cast<std::int64_t>(b.values.size())) {
    throw std::runtime_error(fmt::format("input '{}': {} values do not fill {} rows",
                                         requests[0]->inputs[index].name, b.values.size(), rows));
  }
  b.shape = first;
  b.shape[0] = rows;
  return b;
}

template BatchedInput<float> ConcatRows<float>(const std::vector<const serve::InferRequest*>&,
                                               std::size_t);
template BatchedInput<std::int64_t> ConcatRows<std::int64_t>(
    const std::vector<const serve::InferRequest*>&, std::size_t);

void SplitRows(const std::vector<const serve::InferRequest*>& requests, const std::string& name,
               const std::vector<std::int64_t>& shape, const float* values,
               std::vector<std::vector<serve::OutputTensor>>& per_request) {
  std::int64_t total = 1;
  for (const auto d : shape) total *= d;
  const std::int64_t per_row = shape.empty() || shape[0] == 0 ? 0 : total / shape[0];
  std::int64_t row = 0;
  for (std::size_t r = 0; r < requests.size(); ++r) {
    const std::int64_t rows = requests[r]->BatchSize();
    if (shape.empty() || row + rows > shape[0]) break;
    serve::OutputTensor t;
    t.name = name;
    t.shape = shape;
    t.shape[0] = rows;
    t.fp32.assign(values + row * per_row, values + (row + rows) * per_row);
    row += rows;
    per_request[r].push_back(std::move(t));
  }
  if (shape.empty() || row != shape[0]) {
    throw std::runtime_error(fmt::format("output '{}' does not have a row per input row", name));
  }
}

}  // namespace fwbench
