// Tensor values that view the bytes they came in (a request body, a gRPC message, a model's
// output) instead of copying them, and copy only where a view would be unsafe.
#include "serve/tensor_values.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace fwbench::serve {
namespace {

// `values` as little-endian bytes, `skip` bytes into a heap buffer (operator new aligns it).
std::shared_ptr<std::string> BytesAt(const std::vector<float>& values, std::size_t skip) {
  auto buffer = std::make_shared<std::string>(skip + values.size() * sizeof(float), '\0');
  std::memcpy(buffer->data() + skip, values.data(), values.size() * sizeof(float));
  return buffer;
}

TEST(TensorValues, AlignedBytesAreViewedInPlaceAndKeptAliveByTheirOwner) {
  auto buffer = BytesAt({1.5f, -2.f, 3.25f}, 16);
  const std::string_view bytes = std::string_view(*buffer).substr(16);
  auto v = TensorValues<float>::ViewOrCopy(bytes, true, buffer);
  ASSERT_TRUE(v.is_view());
  EXPECT_EQ(static_cast<const void*>(v.data()), static_cast<const void*>(bytes.data()));
  buffer.reset();  // the view is now the only holder of the body
  EXPECT_EQ(v, (std::vector<float>{1.5f, -2.f, 3.25f}));
  const float* where = v.data();
  const TensorValues<float> copy = v;  // copies of a view share the values and their owner
  v = TensorValues<float>();
  EXPECT_EQ(copy.data(), where);
  EXPECT_EQ(copy, (std::vector<float>{1.5f, -2.f, 3.25f}));
}

TEST(TensorValues, MisalignedBytesOrNoPermissionToViewAreCopied) {
  const auto buffer = BytesAt({7.f, 8.f}, 2);  // 2 bytes in: not aligned for a float
  const std::string_view bytes = std::string_view(*buffer).substr(2);
  const auto misaligned = TensorValues<float>::ViewOrCopy(bytes, true, buffer);
  EXPECT_FALSE(misaligned.is_view());
  EXPECT_EQ(misaligned, (std::vector<float>{7.f, 8.f}));

  const auto aligned = BytesAt({7.f, 8.f}, 0);
  const auto refused = TensorValues<float>::ViewOrCopy(*aligned, false, aligned);
  EXPECT_FALSE(refused.is_view());
  EXPECT_NE(static_cast<const void*>(refused.data()), static_cast<const void*>(aligned->data()));
  EXPECT_EQ(refused, (std::vector<float>{7.f, 8.f}));
}

TEST(TensorValues, BuildingOnAViewCopiesItFirstAndLeavesTheViewedBytesAlone) {
  const auto buffer = BytesAt({1.f, 2.f}, 0);
  auto v = TensorValues<float>::View(reinterpret_cast<const float*>(buffer->data()), 2, buffer);
  v.push_back(3.f);
  EXPECT_FALSE(v.is_view());
  EXPECT_EQ(v, (std::vector<float>{1.f, 2.f, 3.f}));
  float first = 0;
  std::memcpy(&first, buffer->data(), sizeof first);
  EXPECT_EQ(first, 1.f);

  // Assigning a view its own values, when it alone holds them: they are read before the view
  // lets go of them (the sanitizer build would see a use after free otherwise).
  auto only = BytesAt({4.f, 5.f, 6.f}, 0);
  const auto* values = reinterpret_cast<const float*>(only->data());
  auto sole = TensorValues<float>::View(values, 3, std::move(only));
  sole.assign(sole.begin() + 1, sole.end());
  EXPECT_EQ(sole, (std::vector<float>{5.f, 6.f}));
}

}  // namespace
}  // namespace fwbench::serve
