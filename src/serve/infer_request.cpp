#include "serve/infer_request.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <simdjson.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "core/bounded_json.h"

namespace fwbench::serve {

namespace {

// Requests are parsed by simdjson's DOM (a 1.9 MB ResNet-50 224² KServe body: 34 ms with
// nlohmann::json's tree, docs/serve.md "Request decoding"); nlohmann::json only words the error
// of a body simdjson refused, with its byte offset.
using simdjson::dom::element;
using simdjson::dom::element_type;

[[noreturn]] void Bad(const std::string& message) { throw RequestError(400, message); }

// simdjson's DOM parser keeps its buffers between documents; one per thread (HTTP and decode
// threads parse at once). It parses without recursion and stops past kMaxJsonDepth levels
// (simdjson counts the document itself as one), which bounds the recursion of Flatten below;
// the byte-by-byte depth scan that guards the nlohmann::json trees elsewhere
// (core/bounded_json.h) cost 1.5 ms per MB here.
constexpr std::size_t kKeepBytes = std::size_t{4} << 20;

std::unique_ptr<simdjson::dom::parser> NewParser() {
  auto p = std::make_unique<simdjson::dom::parser>();
  if (p->allocate(std::size_t{1} << 16, kMaxJsonDepth + 1) != simdjson::SUCCESS) {
    throw std::bad_alloc();
  }
  return p;
}

// The calling thread's parser. A large body grows its index and its document (tape and strings:
// ~10 bytes per byte of JSON) for good; the next small body gets a fresh parser instead, so one
// 60 MB body does not leave every thread holding 600 MB.
simdjson::dom::parser& ThreadParser(std::size_t body_bytes) {
  thread_local std::unique_ptr<simdjson::dom::parser> parser;
  if (!parser || (body_bytes <= kKeepBytes &&
                  (parser->capacity() > kKeepBytes || parser->doc.capacity() > kKeepBytes))) {
    parser = NewParser();
  }
  return *parser;
}

// The byte offset of the first integer literal outside 64 bits (simdjson refuses them; FP32 data
// can say 1e20 instead), or nullopt.
std::optional<std::size_t> HugeIntegerAt(std::string_view body) {
  bool in_string = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      continue;
    }
    if (c < '0' || c > '9') continue;
    // Not the start of an integer literal: more digits, a fraction, an exponent ("1e+25").
    const auto exponent_mark = [&](std::size_t k) { return body[k] == 'e' || body[k] == 'E'; };
    if (i > 0 &&
        ((body[i - 1] >= '0' && body[i - 1] <= '9') || body[i - 1] == '.' || exponent_mark(i - 1) ||
         ((body[i - 1] == '+' || body[i - 1] == '-') && i > 1 && exponent_mark(i - 2)))) {
      continue;
    }
    std::size_t end = i;
    while (end < body.size() && body[end] >= '0' && body[end] <= '9') ++end;
    const bool fraction =
        end < body.size() && (body[end] == '.' || body[end] == 'e' || body[end] == 'E');
    if (!fraction && end - i > 19) {
      const std::string_view digits = body.substr(i, end - i);
      // 19 digits always fit; 20 fit below 2^64 (simdjson reads those as unsigned).
      if (end - i > 20 || digits > "18446744073709551615") return i;
    }
    i = end;
  }
  return std::nullopt;
}

// Only for a body simdjson refused: the depth scan, then words for what it refused, with the
// byte offset where one can be found (nlohmann::json's, for malformed JSON).
[[noreturn]] void BadJson(std::string_view body, simdjson::error_code code) {
  const auto at = JsonTooDeepAt(body);
  if (at || code == simdjson::DEPTH_ERROR) {
    Bad(fmt::format("the body is not usable: {}; a tensor nests one list per dimension",
                    at ? JsonTooDeepMessage(*at)
                       : fmt::format("it nests more than {} levels deep", kMaxJsonDepth)));
  }
  try {
    const auto parsed = nlohmann::json::parse(body);
    (void)parsed;
  } catch (const nlohmann::json::parse_error& e) {
    Bad(fmt::format("the body is not valid JSON (byte {}): {}", e.byte, e.what()));
  } catch (const nlohmann::json::exception& e) {
    // e.g. out_of_range for a number beyond a double (found by fuzz/fuzz_kserve_request).
    Bad(fmt::format("the body is not usable JSON: {}", e.what()));
  }
  // What nlohmann::json lets through and simdjson does not.
  if (const auto nul = body.find('\0'); nul != std::string_view::npos) {
    Bad(fmt::format(
        "the body is not valid JSON (byte {}): a NUL byte; with the binary tensor extension, "
        "Inference-Header-Content-Length must be the JSON header's exact length",
        nul));
  }
  if (const auto huge = HugeIntegerAt(body)) {
    Bad(
        fmt::format("the body is not usable JSON (byte {}): the integer {}… does not fit in 64 "
                    "bits; write FP32 values that large with an exponent (1e20)",
                    *huge, body.substr(*huge, 24)));
  }
  Bad(fmt::format("the body is not usable JSON: {}", simdjson::error_message(code)));
}

element Parse(std::string_view body) {
  // simdjson reads up to SIMDJSON_PADDING bytes past the end, and the bytes there must not look
  // like JSON: a binary-extension body has its tensors right after the JSON header (they broke
  // the parse when read in place). A copy with zeroed padding costs ~0.1 ms per MB.
  thread_local std::string padded;
  if (body.size() <= kKeepBytes && padded.capacity() > 2 * kKeepBytes) std::string().swap(padded);
  simdjson::dom::parser& parser = ThreadParser(body.size());
  padded.assign(body);
  padded.append(simdjson::SIMDJSON_PADDING, '\0');
  element doc;
  if (const auto error = parser.parse(padded.data(), body.size(), false).get(doc); error) {
    BadJson(body, error);
  }
  return doc;
}

bool IsObject(element e) { return e.type() == element_type::OBJECT; }
bool IsArray(element e) { return e.type() == element_type::ARRAY; }
bool IsString(element e) { return e.type() == element_type::STRING; }
bool IsInteger(element e) {
  return e.type() == element_type::INT64 || e.type() == element_type::UINT64;
}
// Copies of the views (simdjson_result::value_unsafe() of a temporary would dangle in a
// range-for).
simdjson::dom::array ArrayOf(element e) {
  simdjson::dom::array a;
  if (e.get_array().get(a) != simdjson::SUCCESS) return {};
  return a;
}
bool IsEmpty(const simdjson::dom::array& a) {
  for (const element e : a) {
    (void)e;
    return false;
  }
  return true;
}
simdjson::dom::object ObjectOf(element e) {
  simdjson::dom::object o;
  if (e.get_object().get(o) != simdjson::SUCCESS) return {};
  return o;
}

// The member `key` of an object, if it has one.
std::optional<element> Member(element object, std::string_view key) {
  if (!IsObject(object)) return std::nullopt;
  element value;
  if (object[key].get(value) != simdjson::SUCCESS) return std::nullopt;
  return value;
}

std::string Text(element e) { return std::string(std::string_view(e.get_string().value_unsafe())); }

bool TrueFlag(element object, std::string_view key) {
  const auto v = Member(object, key);
  return v && v->type() == element_type::BOOL && v->get_bool().value_unsafe();
}

std::string Shape(const std::vector<std::int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// A leaf for an error message, cut short: it may be a large object.
std::string Excerpt(element value) {
  std::string text = simdjson::minify(value);
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

// Takes a tensor's values one leaf at a time, in row-major order, straight into the tensor
// (no list of leaves in between: 150,528 of them cost 3 ms), checking each against the datatype.
// With `store` false it only counts (an input the model does not have, reported later).
class ValueSink {
 public:
  ValueSink(InputTensor& t, std::string what, bool store, std::size_t expected)
      : t_(t), what_(std::move(what)), store_(store) {
    if (!store_) return;
    if (t_.datatype == "FP32") {
      t_.fp32.reserve(expected);
    } else if (t_.datatype == "INT64") {
      t_.int64.reserve(expected);
    } else {
      throw RequestError(
          500, fmt::format("{}: the server does not handle datatype {}", what_, t_.datatype));
    }
  }

  void operator()(element v) {
    const std::size_t i = count_++;
    if (!store_) return;
    if (t_.datatype == "FP32") {
      double d = 0;
      switch (v.type()) {
        case element_type::DOUBLE:
          d = v.get_double().value_unsafe();
          break;
        case element_type::INT64:
          d = static_cast<double>(v.get_int64().value_unsafe());
          break;
        case element_type::UINT64:
          d = static_cast<double>(v.get_uint64().value_unsafe());
          break;
        default:
          Bad(fmt::format("{}: datatype FP32 needs numbers, got {}", what_, Excerpt(v)));
      }
      // Cast as it is, 1e39 would become Inf and come back as a null output with a 200.
      if (std::abs(d) > static_cast<double>(std::numeric_limits<float>::max())) {
        Bad(fmt::format("{}: value {} (element {}) is outside FP32's range (±{:.7g})", what_, d, i,
                        std::numeric_limits<float>::max()));
      }
      t_.fp32.push_back(static_cast<float>(d));
    } else if (v.type() == element_type::INT64) {
      t_.int64.push_back(v.get_int64().value_unsafe());
    } else if (v.type() == element_type::UINT64) {
      // simdjson reads only 2^63 and above as unsigned: as int64 they would wrap negative.
      Bad(fmt::format("{}: value {} (element {}) is outside INT64's range", what_,
                      v.get_uint64().value_unsafe(), i));
    } else {
      Bad(fmt::format("{}: datatype INT64 needs integers, got {}", what_, Excerpt(v)));
    }
  }

  std::size_t count() const { return count_; }
  const std::string& what() const { return what_; }

 private:
  InputTensor& t_;
  std::string what_;
  bool store_;
  std::size_t count_ = 0;
};

// Rows of a tensor (the items of a list, TF Serving's instances) must have one shape: the first
// row's becomes `inner`; a later row `i` of another shape is an error naming `what`.
void CheckRowShape(std::vector<std::int64_t> shape, std::size_t i, std::vector<std::int64_t>& inner,
                   const std::string& what) {
  if (i == 0) {
    inner = std::move(shape);
  } else if (shape != inner) {
    Bad(
        fmt::format("{}: ragged nested list (element {} has shape {}, element 0 has {}); every "
                    "row must have the same length",
                    what, i, Shape(shape), Shape(inner)));
  }
}

// Gives the leaves of a (nested) JSON array to `sink` and returns its shape; a scalar has shape
// []. Ragged nesting is an error.
std::vector<std::int64_t> Flatten(element value, ValueSink& sink) {
  if (!IsArray(value)) {
    sink(value);
    return {};
  }
  const simdjson::dom::array array = ArrayOf(value);
  std::vector<std::int64_t> inner;
  // Counted here: simdjson's array::size() stops at 2^24 - 1.
  std::size_t i = 0;
  for (const element item : array) {
    // A row of numbers, the common case, goes to the sink without a shape per leaf.
    std::vector<std::int64_t> s;
    if (IsArray(item)) {
      s = Flatten(item, sink);
    } else {
      sink(item);
    }
    CheckRowShape(std::move(s), i, inner, sink.what());
    ++i;
  }
  std::vector<std::int64_t> shape = {static_cast<std::int64_t>(i)};
  shape.insert(shape.end(), inner.begin(), inner.end());
  return shape;
}

// Room to reserve for a tensor of `elements` values read from `bytes` of JSON: each value takes
// at least two bytes ("0,"), so a shape that claims more cannot make the server allocate it.
std::size_t ReserveFor(std::int64_t elements, std::size_t bytes) {
  return std::min(static_cast<std::size_t>(std::max<std::int64_t>(elements, 0)), bytes / 2 + 1);
}

const TensorSignature* FindInput(const ModelSignature& sig, const std::string& name) {
  for (const auto& in : sig.inputs) {
    if (in.name == name) return &in;
  }
  return nullptr;
}

void CheckShape(const InputTensor& t, const TensorSignature& s, const ModelSignature& sig) {
  bool ok = t.shape.size() == s.shape.size();
  for (std::size_t i = 0; ok && i < s.shape.size(); ++i) {
    ok = s.shape[i] < 0 || s.shape[i] == t.shape[i];
  }
  if (!ok) {
    Bad(
        fmt::format("input '{}' has shape {}; model '{}' expects {} (-1: any size). The model's "
                    "{}",
                    t.name, Shape(t.shape), sig.name, Shape(s.shape), DescribeInputs(sig)));
  }
}

InputTensor FromNested(element value, const TensorSignature& s, const std::string& what) {
  InputTensor t;
  t.name = s.name;
  t.datatype = s.datatype;
  ValueSink sink(t, what, true, 0);
  t.shape = Flatten(value, sink);
  return t;
}

// TF Serving's row format with named inputs: one input stacked across the instances.
InputTensor FromRows(const std::vector<element>& rows, const TensorSignature& s,
                     const std::string& what) {
  InputTensor t;
  t.name = s.name;
  t.datatype = s.datatype;
  ValueSink sink(t, what, true, 0);
  std::vector<std::int64_t> inner;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CheckRowShape(Flatten(rows[i], sink), i, inner, what);
  }
  t.shape = {static_cast<std::int64_t>(rows.size())};
  t.shape.insert(t.shape.end(), inner.begin(), inner.end());
  return t;
}

}  // namespace

std::int64_t CountElements(const std::string& input, const std::vector<std::int64_t>& shape) {
  // Checked before each multiplication: a product that wrapped (two dimensions of 2^32 make 0)
  // would let an absurd shape through with no data (found in review).
  constexpr std::int64_t kMaxElements = std::int64_t{1} << 40;
  std::int64_t elements = 1;
  for (const auto d : shape) {
    if (d < 0) Bad(fmt::format("input '{}': shape {} must be non-negative", input, Shape(shape)));
    if (d > kMaxElements || (d != 0 && elements > kMaxElements / d)) {
      Bad(fmt::format("input '{}': shape {} has more than 2^40 elements", input, Shape(shape)));
    }
    elements *= d;
  }
  return elements;
}

void CheckDatatype(const InputTensor& t, const ModelSignature& sig) {
  const TensorSignature* s = FindInput(sig, t.name);
  if (s != nullptr && s->datatype != t.datatype) {
    Bad(fmt::format("input '{}' has datatype {}; model '{}' expects {}. The model's {}", t.name,
                    t.datatype, sig.name, s->datatype, DescribeInputs(sig)));
  }
}

// Orders the parsed tensors as the signature does, after checking that every input is there
// and nothing else is.
std::vector<InputTensor> InSignatureOrder(std::vector<InputTensor> given,
                                          const ModelSignature& sig) {
  for (std::size_t i = 0; i < given.size(); ++i) {
    for (std::size_t k = 0; k < i; ++k) {
      if (given[k].name == given[i].name) {
        Bad(fmt::format("input '{}' is given twice (inputs[{}] and inputs[{}]); each input once",
                        given[i].name, k, i));
      }
    }
  }
  for (const auto& t : given) {
    if (FindInput(sig, t.name) == nullptr) {
      Bad(fmt::format("unknown input '{}' for model '{}'; its {}", t.name, sig.name,
                      DescribeInputs(sig)));
    }
  }
  std::vector<InputTensor> out;
  for (const auto& s : sig.inputs) {
    const auto it = std::find_if(given.begin(), given.end(),
                                 [&](const InputTensor& t) { return t.name == s.name; });
    if (it == given.end()) {
      Bad(fmt::format("missing input '{}' for model '{}'; its {}", s.name, sig.name,
                      DescribeInputs(sig)));
    }
    CheckShape(*it, s, sig);
    out.push_back(std::move(*it));
  }
  return out;
}

std::optional<std::size_t> ParseByteCount(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  std::uint64_t n = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return static_cast<std::size_t>(n);
}

std::string DescribeInputs(const ModelSignature& sig) {
  std::vector<std::string> parts;
  for (const auto& in : sig.inputs) {
    parts.push_back(fmt::format("{} {} {}", in.name, in.datatype, Shape(in.shape)));
  }
  return fmt::format("inputs: {}", fmt::join(parts, "; "));
}

InferRequest ParseKserveV2Request(std::string_view body, const ModelSignature& sig,
                                  std::optional<std::size_t> json_length,
                                  const std::shared_ptr<const void>& body_owner) {
  std::string_view binary;
  if (json_length) {
    if (*json_length > body.size()) {
      Bad(fmt::format("Inference-Header-Content-Length is {} but the body has only {} bytes",
                      *json_length, body.size()));
    }
    binary = body.substr(*json_length);
    body = body.substr(0, *json_length);
  }
  const element j = Parse(body);
  const auto inputs = Member(j, "inputs");
  if (!inputs || !IsArray(*inputs)) {
    Bad(
        fmt::format("a KServe v2 infer request is an object with an \"inputs\" list of "
                    "{{\"name\", \"shape\", \"datatype\", \"data\"}}; model '{}' takes {}",
                    sig.name, DescribeInputs(sig)));
  }
  InferRequest request;
  if (const auto id = Member(j, "id"); id && IsString(*id)) request.id = Text(*id);
  const auto wants_binary = [](element x) {
    const auto parameters = Member(x, "parameters");
    return parameters &&
           (TrueFlag(*parameters, "binary_data_output") || TrueFlag(*parameters, "binary_data"));
  };
  request.binary_output = wants_binary(j);
  if (const auto outputs = Member(j, "outputs"); outputs && IsArray(*outputs)) {
    for (const element o : ArrayOf(*outputs)) {
      request.binary_output |= wants_binary(o);
    }
  }
  std::size_t binary_used = 0;
  std::vector<InputTensor> given;
  std::size_t i = 0;
  for (const element in : ArrayOf(*inputs)) {
    const std::string where = fmt::format("inputs[{}]", i++);
    const auto name = Member(in, "name");
    const auto shape = Member(in, "shape");
    const auto datatype = Member(in, "datatype");
    const auto data = Member(in, "data");
    const auto parameters = Member(in, "parameters");
    const auto size = parameters ? Member(*parameters, "binary_data_size") : std::nullopt;
    const bool is_binary = size.has_value();
    if (!name || !IsString(*name) || !shape || !IsArray(*shape) || !datatype ||
        !IsString(*datatype) || (!data && !is_binary)) {
      Bad(
          fmt::format("{} needs \"name\" (string), \"shape\" (list of integers), \"datatype\" "
                      "(string) and \"data\" (or parameters.binary_data_size with the binary "
                      "tensor extension)",
                      where));
    }
    InputTensor t;
    t.name = Text(*name);
    t.datatype = Text(*datatype);
    for (const element d : ArrayOf(*shape)) {
      if (d.type() != element_type::INT64 || d.get_int64().value_unsafe() < 0) {
        Bad(fmt::format("input '{}': shape {} must be non-negative integers", t.name,
                        simdjson::minify(*shape)));
      }
      t.shape.push_back(d.get_int64().value_unsafe());
    }
    const TensorSignature* s = FindInput(sig, t.name);
    CheckDatatype(t, sig);
    const std::int64_t elements = CountElements(t.name, t.shape);
    if (is_binary) {
      if (!json_length) {
        Bad(
            fmt::format("input '{}' gives binary_data_size but the request has no "
                        "Inference-Header-Content-Length header",
                        t.name));
      }
      if (!IsInteger(*size) ||
          (size->type() == element_type::INT64 && size->get_int64().value_unsafe() < 0)) {
        Bad(fmt::format("input '{}': binary_data_size must be a non-negative integer", t.name));
      }
      const std::uint64_t bytes = size->type() == element_type::INT64
                                      ? static_cast<std::uint64_t>(size->get_int64().value_unsafe())
                                      : size->get_uint64().value_unsafe();
      const std::uint64_t width = t.datatype == "INT64" ? 8 : 4;
      if (bytes != static_cast<std::uint64_t>(elements) * width) {
        Bad(fmt::format("input '{}': shape {} of {} needs {} bytes, binary_data_size is {}", t.name,
                        Shape(t.shape), t.datatype, static_cast<std::uint64_t>(elements) * width,
                        bytes));
      }
      if (bytes > binary.size() - binary_used) {
        Bad(
            fmt::format("input '{}': binary_data_size {} runs past the end of the body ({} "
                        "binary bytes left)",
                        t.name, bytes, binary.size() - binary_used));
      }
      if (s != nullptr) {
        const std::string_view values = binary.substr(binary_used, bytes);
        if (t.datatype == "FP32") {
          t.fp32 = TensorValues<float>::ViewOrCopy(values, body_owner != nullptr, body_owner);
        } else if (t.datatype == "INT64") {
          t.int64 =
              TensorValues<std::int64_t>::ViewOrCopy(values, body_owner != nullptr, body_owner);
        }
      }
      binary_used += bytes;
    } else {
      ValueSink sink(t, "input '" + t.name + "'", s != nullptr, ReserveFor(elements, body.size()));
      Flatten(*data, sink);
      if (static_cast<std::int64_t>(sink.count()) != elements) {
        Bad(fmt::format("input '{}': shape {} holds {} values, \"data\" has {}", t.name,
                        Shape(t.shape), elements, sink.count()));
      }
    }
    given.push_back(std::move(t));
  }
  if (binary_used != binary.size()) {
    Bad(
        fmt::format("the body has {} binary bytes after the JSON header; the inputs' "
                    "binary_data_size add up to {}",
                    binary.size(), binary_used));
  }
  request.inputs = InSignatureOrder(std::move(given), sig);
  return request;
}

InferRequest ParseTfServingRequest(std::string_view body, const ModelSignature& sig) {
  const element j = Parse(body);
  const auto instances = Member(j, "instances");
  const auto columns = Member(j, "inputs");
  if (instances.has_value() == columns.has_value()) {
    Bad(
        fmt::format("a TF Serving predict request is an object with either \"instances\" (one "
                    "entry per example) or \"inputs\" (batched tensors); model '{}' takes {}",
                    sig.name, DescribeInputs(sig)));
  }
  std::vector<InputTensor> given;
  if (instances) {
    if (!IsArray(*instances) || IsEmpty(ArrayOf(*instances))) {
      Bad("\"instances\" must be a non-empty list, one entry per example");
    }
    const element first = ArrayOf(*instances).at(0).value_unsafe();
    if (sig.inputs.size() == 1 && !IsObject(first)) {
      given.push_back(FromNested(*instances, sig.inputs[0], "instances"));
    } else {
      // Row format with named inputs: stack each input across the instances.
      for (const auto& s : sig.inputs) {
        std::vector<element> rows;
        std::size_t i = 0;
        for (const element inst : ArrayOf(*instances)) {
          const auto value = Member(inst, s.name);
          if (!value) {
            Bad(
                fmt::format("instances[{}] lacks input '{}'; with several inputs each instance "
                            "is an object of them ({})",
                            i, s.name, DescribeInputs(sig)));
          }
          rows.push_back(*value);
          ++i;
        }
        given.push_back(FromRows(rows, s, fmt::format("instances[*].{}", s.name)));
      }
      for (const auto field : ObjectOf(first)) {
        if (FindInput(sig, std::string(field.key)) == nullptr) {
          Bad(fmt::format("unknown input '{}' for model '{}'; its {}", field.key, sig.name,
                          DescribeInputs(sig)));
        }
      }
    }
  } else {
    if (sig.inputs.size() == 1 && !IsObject(*columns)) {
      given.push_back(FromNested(*columns, sig.inputs[0], "inputs"));
    } else {
      if (!IsObject(*columns)) {
        Bad(fmt::format("\"inputs\" must be an object of named tensors for model '{}' ({})",
                        sig.name, DescribeInputs(sig)));
      }
      for (const auto field : ObjectOf(*columns)) {
        const std::string name(field.key);
        const TensorSignature* s = FindInput(sig, name);
        if (s == nullptr) {
          Bad(fmt::format("unknown input '{}' for model '{}'; its {}", name, sig.name,
                          DescribeInputs(sig)));
        }
        given.push_back(FromNested(field.value, *s, "inputs." + name));
      }
    }
  }
  InferRequest request;
  request.inputs = InSignatureOrder(std::move(given), sig);
  return request;
}

}  // namespace fwbench::serve
