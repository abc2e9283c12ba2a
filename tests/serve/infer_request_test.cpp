#include "serve/infer_request.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cstring>
#include <functional>
#include <string>
#include <tuple>
#include <utility>

namespace fwbench::serve {
namespace {

ModelSignature Resnet() {
  return {"resnet", {{"image", "FP32", {-1, 3, 2, 2}}}, {{"logits", "FP32", {-1, 10}}}};
}

ModelSignature TwoInputs() {
  return {"lm", {{"tokens", "INT64", {-1, -1}}, {"temperature", "FP32", {-1}}}, {}};
}

// The message of the RequestError `body` raises, with its status.
std::pair<int, std::string> Rejection(const std::function<void()>& parse) {
  try {
    parse();
  } catch (const RequestError& e) {
    return {e.status(), e.what()};
  }
  return {0, "(accepted)"};
}

TEST(KserveV2Request, FlatAndNestedDataParseInSignatureOrder) {
  const auto r = ParseKserveV2Request(
      R"({"id": "42", "inputs": [{"name": "image", "shape": [1, 3, 2, 2], "datatype": "FP32",
          "data": [1,2,3,4,5,6,7,8,9,10,11,12]}]})",
      Resnet());
  EXPECT_EQ(r.id, "42");
  ASSERT_EQ(r.inputs.size(), 1u);
  EXPECT_EQ(r.inputs[0].shape, (std::vector<std::int64_t>{1, 3, 2, 2}));
  EXPECT_EQ(r.inputs[0].fp32.size(), 12u);
  EXPECT_EQ(r.inputs[0].fp32[11], 12.f);

  const auto two = ParseKserveV2Request(
      R"({"inputs": [{"name": "temperature", "shape": [2], "datatype": "FP32", "data": [0.5, 1]},
                     {"name": "tokens", "shape": [2, 3], "datatype": "INT64",
                      "data": [[1, 2, 3], [4, 5, 6]]}]})",
      TwoInputs());
  EXPECT_EQ(two.inputs[0].name, "tokens");
  EXPECT_EQ(two.inputs[0].int64, (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(two.inputs[1].fp32, (std::vector<float>{0.5f, 1.f}));
}

TEST(KserveV2Request, EveryMistakeIsA400ThatSaysWhatTheModelExpects) {
  const auto expect = [](const std::string& body, const std::string& says) {
    const auto [status, message] = Rejection([&] { ParseKserveV2Request(body, Resnet()); });
    EXPECT_EQ(status, 400) << body;
    EXPECT_NE(message.find(says), std::string::npos) << message;
    return message;
  };
  expect("{\"inputs\": [", "the body is not valid JSON (byte");
  expect(R"({"instances": []})", "an object with an \"inputs\" list");
  const std::string shape = expect(
      R"({"inputs": [{"name": "image", "shape": [1, 3, 4, 1], "datatype": "FP32",
          "data": [1,2,3,4,5,6,7,8,9,10,11,12]}]})",
      "input 'image' has shape [1, 3, 4, 1]; model 'resnet' expects [-1, 3, 2, 2]");
  EXPECT_NE(shape.find("inputs: image FP32 [-1, 3, 2, 2]"), std::string::npos) << shape;
  expect(R"({"inputs": [{"name": "image", "shape": [1, 3, 2, 2], "datatype": "INT64",
             "data": [1,2,3,4,5,6,7,8,9,10,11,12]}]})",
         "input 'image' has datatype INT64; model 'resnet' expects FP32");
  expect(R"({"inputs": [{"name": "image", "shape": [1, 3, 2, 2], "datatype": "FP32",
             "data": [1,2,3]}]})",
         "shape [1, 3, 2, 2] holds 12 values, \"data\" has 3");
  expect(R"({"inputs": [{"name": "pixels", "shape": [1], "datatype": "FP32", "data": [1]}]})",
         "unknown input 'pixels' for model 'resnet'");
  expect(R"({"inputs": []})", "missing input 'image' for model 'resnet'");
  expect(R"({"inputs": [{"name": "image", "shape": [1, 3, 2, 2], "datatype": "FP32",
             "data": [1,2,3,4,5,6,7,8,9,10,11,"x"]}]})",
         "datatype FP32 needs numbers, got \"x\"");
  expect(R"({"inputs": [{"name": "image", "shape": [1, -3, 2, 2], "datatype": "FP32",
             "data": []}]})",
         "must be non-negative integers");
  expect(R"({"inputs": [{"name": "image", "datatype": "FP32", "data": []}]})",
         "inputs[0] needs \"name\" (string), \"shape\"");
}

// Issue 22: the JSON header is parsed from a padded copy; read in place, the binary tensor after
// it (bytes that spell JSON here) was taken for more of the document.
TEST(KserveV2Request, BinaryBytesThatLookLikeJsonAfterTheHeaderAreNotParsedAsJson) {
  const std::string header =
      R"({"inputs":[{"name":"image","shape":[1,3,2,2],"datatype":"FP32","parameters":{"binary_data_size":48}}]})";
  std::string tail = "]}, {\"x\": 1} ,,,[[[ \"\"\"  ";
  tail.resize(48, ' ');
  const auto r = ParseKserveV2Request(header + tail, Resnet(), header.size());
  ASSERT_EQ(r.inputs.size(), 1u);
  ASSERT_EQ(r.inputs[0].fp32.size(), 12u);
  float first = 0;
  std::memcpy(&first, tail.data(), sizeof first);
  EXPECT_EQ(std::memcmp(&r.inputs[0].fp32[0], &first, sizeof first), 0);
}

// Issue 22: with the body's owner given, binary tensors are views of the body where they lie
// aligned (the HTTP server places them so), copies where they do not, and copies without it.
TEST(KserveV2Request, BinaryTensorsViewTheBodyWhereAlignedAndAreCopiedOtherwise) {
  const std::string header =
      R"({"inputs":[{"name":"tokens","shape":[1,3],"datatype":"INT64","parameters":{"binary_data_size":24}},)"
      R"({"name":"temperature","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}}]})";
  const std::int64_t tokens[3] = {11, -2, 1LL << 40};
  const float temperature = 0.75f;
  // `pad` bytes before the body, as the server's request reader leaves them.
  const auto body_at = [&](std::size_t pad) {
    auto buffer = std::make_shared<std::string>(pad, '\0');
    buffer->append(header);
    buffer->append(reinterpret_cast<const char*>(tokens), sizeof tokens);
    buffer->append(reinterpret_cast<const char*>(&temperature), sizeof temperature);
    return buffer;
  };
  const std::size_t aligned_pad = (16 - header.size() % 16) % 16;
  for (const std::size_t pad : {aligned_pad, aligned_pad + 4}) {
    SCOPED_TRACE(fmt::format("{} bytes before the body", pad));
    auto buffer = body_at(pad);
    const std::string_view body = std::string_view(*buffer).substr(pad);
    const auto r = ParseKserveV2Request(body, TwoInputs(), header.size(), buffer);
    buffer.reset();  // the request alone keeps the body alive now
    ASSERT_EQ(r.inputs.size(), 2u);
    EXPECT_EQ(r.inputs[0].int64, (std::vector<std::int64_t>{11, -2, 1LL << 40}));
    EXPECT_EQ(r.inputs[1].fp32, (std::vector<float>{0.75f}));
    // INT64 needs 8-byte alignment: 4 bytes off, it is copied; the FP32 after it is aligned.
    EXPECT_EQ(r.inputs[0].int64.is_view(), pad == aligned_pad);
    EXPECT_TRUE(r.inputs[1].fp32.is_view());
    if (pad == aligned_pad) {
      EXPECT_EQ(reinterpret_cast<const char*>(r.inputs[0].int64.data()),
                body.data() + header.size());
    }
  }
  const auto copied =
      ParseKserveV2Request(std::string_view(*body_at(0)), TwoInputs(), header.size());
  EXPECT_FALSE(copied.inputs[0].int64.is_view());
  EXPECT_FALSE(copied.inputs[1].fp32.is_view());
  EXPECT_EQ(copied.inputs[0].int64, (std::vector<std::int64_t>{11, -2, 1LL << 40}));
}

// simdjson refuses what nlohmann::json let through; each refusal says where and why.
TEST(KserveV2Request, WhatStrictJsonRefusesIsA400ThatSaysWhereAndHowToFixIt) {
  const std::string header =
      R"({"inputs":[{"name":"image","shape":[1,3,2,2],"datatype":"FP32","parameters":{"binary_data_size":48}}]})";
  // A header length that counts two NUL bytes past the JSON (nlohmann stopped at the NUL).
  const std::string body = header + std::string(2, '\0') + std::string(48, '\x01');
  auto [status, message] =
      Rejection([&] { ParseKserveV2Request(body, Resnet(), header.size() + 2); });
  EXPECT_EQ(status, 400);
  EXPECT_NE(message.find(fmt::format("(byte {}): a NUL byte", header.size())), std::string::npos)
      << message;
  EXPECT_NE(message.find("Inference-Header-Content-Length must be the JSON header's exact length"),
            std::string::npos)
      << message;
  // An integer beyond 64 bits (nlohmann read it as a double).
  const std::string huge =
      R"({"inputs":[{"name":"image","shape":[1,3,2,2],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,9,10,11,100000000000000000000]}]})";
  std::tie(status, message) = Rejection([&] { ParseKserveV2Request(huge, Resnet()); });
  EXPECT_EQ(status, 400);
  EXPECT_NE(
      message.find(fmt::format("(byte {}): the integer 100000000000000000000", huge.find("1000"))),
      std::string::npos)
      << message;
  EXPECT_NE(message.find("with an exponent (1e20)"), std::string::npos) << message;
  // 1e20 and 2^64 - 1 (which fits as unsigned) are fine for FP32.
  for (const char* value : {"1e20", "18446744073709551615", "1e+25"}) {
    const auto r = ParseKserveV2Request(
        std::string(
            R"({"inputs":[{"name":"image","shape":[1,3,2,2],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,9,10,11,)") +
            value + "]}]}",
        Resnet());
    EXPECT_EQ(r.inputs[0].fp32.size(), 12u) << value;
  }
}

// 64 levels of nesting are a tensor's business (its shape is checked next); 65 are refused.
TEST(KserveV2Request, SixtyFourLevelsParseAndSixtyFiveAreRefusedAsTooDeep) {
  const auto nested = [](int levels) {
    // "data" opens one level inside the document's own two ({ and [ of "inputs", { of the entry).
    const int lists = levels - 3;
    return R"({"inputs":[{"name":"image","shape":[1,3,2,2],"datatype":"FP32","data":)" +
           std::string(static_cast<std::size_t>(lists), '[') + "1" +
           std::string(static_cast<std::size_t>(lists), ']') + "}]}";
  };
  auto [status, message] = Rejection([&] { ParseKserveV2Request(nested(64), Resnet()); });
  EXPECT_EQ(status, 400);
  EXPECT_EQ(message.find("levels deep"), std::string::npos) << message;
  EXPECT_NE(message.find("holds 12 values"), std::string::npos) << message;
  std::tie(status, message) = Rejection([&] { ParseKserveV2Request(nested(65), Resnet()); });
  EXPECT_EQ(status, 400);
  EXPECT_NE(message.find("more than 64 levels deep"), std::string::npos) << message;
}

// simdjson's array::size() stops at 2^24 - 1: the shape counts the items itself.
TEST(TfServingRequest, AListOfMoreThan16MillionValuesHasItsTrueLength) {
  const ModelSignature sig = {"long", {{"x", "FP32", {-1}}}, {}};
  constexpr std::size_t kValues = (std::size_t{1} << 24) + 5;
  std::string body = R"({"inputs":[)";
  body.reserve(kValues * 2 + 16);
  for (std::size_t i = 0; i < kValues; ++i) body += i ? ",0" : "0";
  body += "]}";
  const auto r = ParseTfServingRequest(body, sig);
  ASSERT_EQ(r.inputs.size(), 1u);
  EXPECT_EQ(r.inputs[0].shape, (std::vector<std::int64_t>{static_cast<std::int64_t>(kValues)}));
  EXPECT_EQ(r.inputs[0].fp32.size(), kValues);
}

// A ResNet-sized body, flat and nested, every value read back exactly as written.
TEST(KserveV2Request, ALargeBodyIsReadValueForValueFlatOrNested) {
  const ModelSignature sig = {"big", {{"x", "FP32", {-1, 3, 224, 224}}}, {}};
  std::string flat = R"({"inputs":[{"name":"x","shape":[1,3,224,224],"datatype":"FP32","data":[)";
  std::string nested =
      R"({"inputs":[{"name":"x","shape":[1,3,224,224],"datatype":"FP32","data":[[)";
  std::vector<float> expected;
  for (int c = 0; c < 3; ++c) {
    nested += c ? ",[" : "[";
    for (int h = 0; h < 224; ++h) {
      nested += h ? ",[" : "[";
      for (int w = 0; w < 224; ++w) {
        const float v = static_cast<float>((c * 224 + h) * 224 + w) / 1024.0F - 50.0F;
        const std::string text = fmt::format("{}", v);
        flat += expected.empty() ? text : "," + text;
        nested += w ? "," + text : text;
        expected.push_back(v);
      }
      nested += "]";
    }
    nested += "]";
  }
  flat += "]}]}";
  nested += "]]}]}";
  for (const std::string* body : {&flat, &nested}) {
    const auto r = ParseKserveV2Request(*body, sig);
    ASSERT_EQ(r.inputs.size(), 1u);
    EXPECT_EQ(r.inputs[0].shape, (std::vector<std::int64_t>{1, 3, 224, 224}));
    EXPECT_EQ(r.inputs[0].fp32, expected);
  }
}

// Issue 17: values a tensor's datatype cannot hold were converted silently (FP32 1e39 became
// Inf, INT64 2^63 wrapped to a negative number).
TEST(KserveV2Request, ValuesBeyondTheirDatatypesRangeAreA400) {
  const auto [status, message] = Rejection([] {
    ParseKserveV2Request(
        R"({"inputs": [{"name": "tokens", "shape": [1, 2], "datatype": "INT64",
                        "data": [1, 9223372036854775808]},
                       {"name": "temperature", "shape": [1], "datatype": "FP32", "data": [1]}]})",
        TwoInputs());
  });
  EXPECT_EQ(status, 400);
  EXPECT_NE(message.find("value 9223372036854775808 (element 1) is outside INT64's range"),
            std::string::npos)
      << message;
  const auto [status2, message2] = Rejection([] {
    ParseKserveV2Request(
        R"({"inputs": [{"name": "tokens", "shape": [1, 1], "datatype": "INT64",
                        "data": [9223372036854775807]},
                       {"name": "temperature", "shape": [1], "datatype": "FP32",
                        "data": [-3.5e38]}]})",
        TwoInputs());
  });
  EXPECT_EQ(status2, 400);
  EXPECT_NE(message2.find("outside FP32's range"), std::string::npos) << message2;
}

TEST(TfServingRequest, RowAndColumnFormatsBothBatchAndRaggedRowsAreRefused) {
  const auto rows = ParseTfServingRequest(
      R"({"instances": [[[[1,2],[3,4]],[[5,6],[7,8]],[[9,10],[11,12]]],
                        [[[0,0],[0,0]],[[0,0],[0,0]],[[0,0],[0,0]]]]})",
      Resnet());
  EXPECT_EQ(rows.inputs[0].shape, (std::vector<std::int64_t>{2, 3, 2, 2}));
  EXPECT_EQ(rows.inputs[0].fp32[4], 5.f);

  const auto named = ParseTfServingRequest(
      R"({"instances": [{"tokens": [1, 2], "temperature": 0.7}, {"tokens": [3, 4], "temperature": 1}]})",
      TwoInputs());
  EXPECT_EQ(named.inputs[0].shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(named.inputs[1].shape, (std::vector<std::int64_t>{2}));

  const auto columns = ParseTfServingRequest(
      R"({"inputs": {"tokens": [[1, 2, 3]], "temperature": [0.2]}})", TwoInputs());
  EXPECT_EQ(columns.inputs[0].int64, (std::vector<std::int64_t>{1, 2, 3}));

  auto [status, message] =
      Rejection([] { ParseTfServingRequest(R"({"instances": [[1, 2], [3]]})", TwoInputs()); });
  EXPECT_EQ(status, 400);
  EXPECT_NE(message.find("instances[0] lacks input 'tokens'"), std::string::npos) << message;
  std::tie(status, message) = Rejection(
      [] { ParseTfServingRequest(R"({"inputs": [[[[1,2],[3,4]]], [[[1,2],[3]]]]})", Resnet()); });
  EXPECT_NE(message.find("ragged nested list"), std::string::npos) << message;
  std::tie(status, message) =
      Rejection([] { ParseTfServingRequest(R"({"instances": [1], "inputs": [1]})", Resnet()); });
  EXPECT_NE(message.find("either \"instances\""), std::string::npos) << message;
  std::tie(status, message) = Rejection([] {
    ParseTfServingRequest(R"({"inputs": {"tokens": [[1.5]], "temperature": [1]}})", TwoInputs());
  });
  EXPECT_NE(message.find("datatype INT64 needs integers, got 1.5"), std::string::npos) << message;
}

}  // namespace
}  // namespace fwbench::serve

namespace fwbench::serve {
namespace {

// Found in review: two dimensions of 2^32 multiplied to 0 and passed with no data.
TEST(KserveV2Request, AShapeWhoseElementCountOverflowsIsA400) {
  const ModelSignature sig{"tok", {{"ids", "INT64", {-1, -1}}}, {{"y", "FP32", {-1, 2}}}};
  try {
    ParseKserveV2Request(
        R"({"inputs":[{"name":"ids","shape":[4294967296,4294967296],"datatype":"INT64","data":[]}]})",
        sig);
    FAIL() << "accepted";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_NE(std::string(e.what()).find("more than 2^40 elements"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace fwbench::serve
