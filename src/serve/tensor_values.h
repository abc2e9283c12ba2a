#pragma once
// A tensor's values as the server carries them from request to model and from model to response
// (issue 22): either built here (JSON and typed gRPC values are parsed into them), or a view of
// values another buffer already holds — the binary tensors of an HTTP body, a gRPC message's raw
// bytes, a LibTorch output — so that they are not copied on the way. A view keeps its holder
// alive through `owner`; copies of a view share the values, copies of built values copy them.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string_view>
#include <vector>

namespace fwbench::serve {

template <typename T>
class TensorValues {
 public:
  using value_type = T;
  using iterator = const T*;
  using const_iterator = const T*;

  TensorValues() = default;
  TensorValues(std::initializer_list<T> values) : owned_(values) {}

  // `size` values at `data`, valid while `owner` lives. An empty owner is allowed where the
  // holder outlives every use by contract (a gRPC message lives until its call is finished, and
  // that is after the batch ran).
  static TensorValues View(const T* data, std::size_t size,
                           const std::shared_ptr<const void>& owner) {
    TensorValues v;
    v.view_ = data;
    v.view_size_ = size;
    v.owner_ = owner;
    v.is_view_ = true;
    return v;
  }

  // Little-endian `bytes` (a whole number of values) as values: viewed in place when they are
  // aligned for T and `may_view`, else copied (reading a misaligned T is undefined behaviour).
  static TensorValues ViewOrCopy(std::string_view bytes, bool may_view,
                                 const std::shared_ptr<const void>& owner) {
    const std::size_t n = bytes.size() / sizeof(T);
    if (may_view && IsAligned(bytes.data())) {
      return View(reinterpret_cast<const T*>(bytes.data()), n, owner);
    }
    TensorValues v;
    v.owned_.resize(n);
    if (n != 0) std::memcpy(v.owned_.data(), bytes.data(), n * sizeof(T));
    return v;
  }
  static bool IsAligned(const void* p) {
    return reinterpret_cast<std::uintptr_t>(p) % alignof(T) == 0;
  }

  bool is_view() const { return is_view_; }
  const T* data() const { return is_view_ ? view_ : owned_.data(); }
  std::size_t size() const { return is_view_ ? view_size_ : owned_.size(); }
  bool empty() const { return size() == 0; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }
  const T& front() const { return *data(); }
  const T& operator[](std::size_t i) const { return data()[i]; }

  // Building values in place (the decoders): a view is first copied into values of its own.
  void reserve(std::size_t n) { Own().reserve(n); }
  void push_back(T value) { Own().push_back(value); }
  void append(const T* first, const T* last) {
    std::vector<T>& v = Own();
    v.insert(v.end(), first, last);
  }
  void resize(std::size_t n) { Own().resize(n); }
  void resize(std::size_t n, T value) { Own().resize(n, value); }
  template <typename It>
  void assign(It first, It last) {
    std::vector<T> values(first, last);  // [first, last) may lie in the view that Drop frees
    Drop();
    owned_ = std::move(values);
  }
  void assign(std::size_t n, T value) {
    Drop();
    owned_.assign(n, value);
  }
  T* mutable_data() { return Own().data(); }

  friend bool operator==(const TensorValues& a, const TensorValues& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  friend bool operator==(const TensorValues& a, const std::vector<T>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  std::vector<T>& Own() {
    if (is_view_) {
      owned_.assign(view_, view_ + view_size_);
      Drop();
    }
    return owned_;
  }
  void Drop() {
    is_view_ = false;
    view_ = nullptr;
    view_size_ = 0;
    owner_.reset();
  }

  std::vector<T> owned_;
  bool is_view_ = false;
  const T* view_ = nullptr;
  std::size_t view_size_ = 0;
  std::shared_ptr<const void> owner_;
};

}  // namespace fwbench::serve
