// Dotted TOML keys bounded before toml++ builds (and recursively destroys) a table per part.
#include <gtest/gtest.h>

#include <string>

#include "core/toml_depth.h"

namespace fwbench {
namespace {

std::string Key(int parts) {
  std::string key = "a";
  for (int i = 1; i < parts; ++i) key += ".a";
  return key;
}

TEST(TomlDepth, KeysHeadersAndInlineTablesPastTheBoundAreFoundOnTheirLine) {
  EXPECT_FALSE(TomlKeyTooDeepAt(Key(64) + " = 1\n"));
  EXPECT_EQ(TomlKeyTooDeepAt("x = 1\n" + Key(65) + " = 1\n"), std::optional<std::size_t>(2));
  EXPECT_EQ(TomlKeyTooDeepAt("[" + Key(100'000) + "]\nb = 1\n"), std::optional<std::size_t>(1));
  EXPECT_EQ(TomlKeyTooDeepAt("[[" + Key(65) + "]]\n"), std::optional<std::size_t>(1));
  EXPECT_EQ(TomlKeyTooDeepAt("x = {b = 1, " + Key(65) + " = 2}\n"), std::optional<std::size_t>(1));
}

TEST(TomlDepth, DotsInValuesStringsAndCommentsAreNotKeys) {
  std::string floats = "x = [";
  for (int i = 0; i < 200; ++i) floats += "1.5, ";
  floats += "2.5]\n";
  EXPECT_FALSE(TomlKeyTooDeepAt(floats));
  EXPECT_FALSE(TomlKeyTooDeepAt("x = [\n  1.5,\n  2.5,\n]\n"));
  EXPECT_FALSE(TomlKeyTooDeepAt("name = \"" + Key(200) + "\"\n"));
  EXPECT_FALSE(TomlKeyTooDeepAt("name = '''\n" + Key(200) + " = 1\n'''\n"));
  EXPECT_FALSE(TomlKeyTooDeepAt("\"" + Key(200) + "\" = 1\n"));
  EXPECT_FALSE(TomlKeyTooDeepAt("# " + Key(200) + "\nx = 1\n"));
  EXPECT_FALSE(TomlKeyTooDeepAt("when = 1979-05-27T07:32:00.999Z\n"));
  // A multi-line string does not hide what follows it; line numbers count its lines.
  EXPECT_EQ(TomlKeyTooDeepAt("s = \"\"\"\nline\n\"\"\"\n" + Key(65) + " = 1\n"),
            std::optional<std::size_t>(4));
}

}  // namespace
}  // namespace fwbench
