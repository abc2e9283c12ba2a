#pragma once
// The HTTP server's Beast body types, which let binary tensors pass through without a copy
// (issue 22).
//   TensorRequestBody: a request body read into a shared buffer, placed so that what follows the
//     first Inference-Header-Content-Length bytes (the binary tensor extension's tensors) starts
//     16-byte aligned, whatever the length of the client's JSON header: the decoder then views
//     the tensors where they lie (infer_request.h) and the buffer lives as long as they do.
//   SpansResponseBody: a response body sent as a string (the JSON, or the JSON header of a binary
//     answer) followed by byte ranges as they lie (the binary output tensors), kept alive by an
//     owner until written.
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/optional.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fwbench::serve {

// The alignment binary tensors get: what operator new gives the buffer, enough for FP32 and INT64.
inline constexpr std::size_t kTensorAlignment = alignof(std::max_align_t);

// Bytes to leave before a body whose Inference-Header-Content-Length header says `json_length`
// (empty or not a byte count: none) so that its binary part starts aligned.
std::size_t AlignedBodyOffset(std::string_view json_length);

struct TensorRequestBody {
  struct value_type {
    std::shared_ptr<std::string> buffer;  // the body starts `offset` bytes in
    std::size_t offset = 0;
    std::string_view view() const {
      return buffer ? std::string_view(*buffer).substr(offset) : std::string_view();
    }
  };

  class reader {
   public:
    // The parser makes its reader before it has read the headers: they are looked at in init.
    template <bool isRequest, class Fields>
    reader(boost::beast::http::header<isRequest, Fields>& h, value_type& body)
        : offset_([&h] {
            const auto json_length = h["Inference-Header-Content-Length"];
            return AlignedBodyOffset(std::string_view(json_length.data(), json_length.size()));
          }),
          body_(body) {}

    // The parser has checked `length` against its body limit before this.
    void init(const boost::optional<std::uint64_t>& length, boost::beast::error_code& ec) {
      const std::size_t offset = offset_();
      body_.buffer = std::make_shared<std::string>();
      body_.offset = offset;
      body_.buffer->reserve(offset + static_cast<std::size_t>(length.value_or(0)));
      body_.buffer->assign(offset, '\0');
      ec = {};
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, boost::beast::error_code& ec) {
      std::size_t n = 0;
      for (const auto b : boost::beast::buffers_range_ref(buffers)) {
        body_.buffer->append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      ec = {};
      return n;
    }

    void finish(boost::beast::error_code& ec) { ec = {}; }

   private:
    std::function<std::size_t()> offset_;
    value_type& body_;
  };
};

struct SpansResponseBody {
  struct value_type {
    std::string head;
    std::vector<std::string_view> tail;
    std::shared_ptr<const void> tail_owner;
  };

  static std::uint64_t size(const value_type& body) {
    std::uint64_t n = body.head.size();
    for (const auto& s : body.tail) n += s.size();
    return n;
  }

  class writer {
   public:
    using const_buffers_type = std::vector<boost::asio::const_buffer>;

    template <bool isRequest, class Fields>
    writer(const boost::beast::http::header<isRequest, Fields>& /*h*/, const value_type& body)
        : body_(body) {}

    void init(boost::beast::error_code& ec) { ec = {}; }

    // Everything at once: the serializer gathers it into one write with the headers.
    boost::optional<std::pair<const_buffers_type, bool>> get(boost::beast::error_code& ec) {
      ec = {};
      if (done_ || size(body_) == 0) return boost::none;
      done_ = true;
      const_buffers_type buffers;
      buffers.reserve(1 + body_.tail.size());
      if (!body_.head.empty()) buffers.emplace_back(body_.head.data(), body_.head.size());
      for (const auto& s : body_.tail) {
        if (!s.empty()) buffers.emplace_back(s.data(), s.size());
      }
      return std::make_pair(std::move(buffers), false);
    }

   private:
    const value_type& body_;
    bool done_ = false;
  };
};

}  // namespace fwbench::serve
