// The JSON nesting bound (issue 17): counted as the parser would, strings ignored, cheap.
#include <gtest/gtest.h>

#include <string>

#include "core/bounded_json.h"
#include "core/protocol.h"

namespace fwbench {
namespace {

std::string Nested(int depth, char open = '[', char close = ']') {
  return std::string(static_cast<std::size_t>(depth), open) + "1" +
         std::string(static_cast<std::size_t>(depth), close);
}

TEST(BoundedJson, DepthIsCountedAcrossArraysAndObjectsAndNotInsideStrings) {
  EXPECT_FALSE(JsonTooDeepAt(Nested(64)));
  ASSERT_TRUE(JsonTooDeepAt(Nested(65)));
  EXPECT_EQ(*JsonTooDeepAt(Nested(65)), 64u);  // the 65th '[' is at byte 64
  std::string mixed;
  for (int i = 0; i < 40; ++i) mixed += "{\"a\":[";
  EXPECT_EQ(JsonTooDeepAt(mixed), std::optional<std::size_t>(6 * 32));
  // Brackets inside strings, escaped quotes included, are text.
  const std::string in_string =
      "[\"" + std::string(100, '[') + "\\\"" + std::string(100, '{') + "\"]";
  EXPECT_FALSE(JsonTooDeepAt(in_string));
  EXPECT_FALSE(ParseJsonOrDiscard(in_string).is_discarded());
  // Closers never take the depth below zero: they cannot hide later nesting.
  EXPECT_TRUE(JsonTooDeepAt(std::string(100, ']') + Nested(65)));
  EXPECT_EQ(JsonTooDeepAt("[[1],[2],[3]]", 2), std::nullopt);
  EXPECT_EQ(JsonTooDeepAt("[[[1]]]", 2), std::optional<std::size_t>(2));
}

TEST(BoundedJson, ParsersRefuseWhatIsTooDeepAndParseTheRest) {
  EXPECT_TRUE(ParseJsonOrDiscard(Nested(30'000)).is_discarded());
  EXPECT_EQ(ParseJsonOrDiscard(Nested(3)), nlohmann::json::parse("[[[1]]]"));
  EXPECT_TRUE(ParseJsonOrDiscard("{").is_discarded());
  try {
    ParseBoundedJson(Nested(300'000, '{', '}'));
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("more than 64 levels deep (at byte 64)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(ParseBoundedJson("[1,"), nlohmann::json::parse_error);
}

TEST(BoundedJson, AWorkerEventNestedPastTheBoundIsAProtocolErrorNotACrash) {
  std::string line =
      "{\"event\":\"metric\",\"name\":\"x\",\"value\":" + Nested(100'000) + ",\"unit\":\"s\"}";
  std::string error;
  EXPECT_FALSE(protocol::ParseEventLine(line, error));
  EXPECT_NE(error.find("not a JSON object"), std::string::npos) << error;
}

}  // namespace
}  // namespace fwbench
