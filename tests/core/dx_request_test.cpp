// The request a dx port reads, and the faults' catalogue.
#include "core/dx_request.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "core/error.h"
#include "core/text.h"

namespace fwbench {
namespace {

std::filesystem::path Write(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("fwbench_dx_" + name + ".json");
  std::ofstream(path) << text;
  return path;
}

std::string UsageMessage(const std::filesystem::path& path) {
  try {
    ReadDxRequest(path);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "no UsageError";
}

TEST(DxRequest, RoundTripsThroughJson) {
  const DxRequest r{"bad_batch", "eager", 2, "/tmp/e.txt", "/tmp/m.onnx"};
  const auto path = Write("ok", ToJson(r).dump());
  const DxRequest back = ReadDxRequest(path);
  EXPECT_EQ(back.fault, "bad_batch");
  EXPECT_EQ(back.mode, "eager");
  EXPECT_EQ(back.threads, 2);
  EXPECT_EQ(back.error_file, "/tmp/e.txt");
  EXPECT_EQ(back.onnx_model, "/tmp/m.onnx");
}

TEST(DxRequest, BadRequestsNameTheFileAndField) {
  const auto unknown = Write("unknown", R"({"fault":"typo","mode":"eager","threads":1,
      "error_file":"e","onnx_model":""})");
  EXPECT_NE(UsageMessage(unknown).find("field fault: unknown fault 'typo' (have: shape_mismatch"),
            std::string::npos)
      << UsageMessage(unknown);
  EXPECT_NE(UsageMessage(unknown).find(unknown.string()), std::string::npos);
  const auto threads = Write("threads", R"({"fault":"bad_batch","mode":"eager","threads":0,
      "error_file":"e","onnx_model":""})");
  EXPECT_NE(UsageMessage(threads).find("field threads must be an integer >= 1"), std::string::npos);
  const auto missing = Write("missing", R"({"fault":"bad_batch","threads":1})");
  EXPECT_NE(UsageMessage(missing).find("field mode must be a string"), std::string::npos);
  const auto garbage = Write("garbage", "{not json");
  EXPECT_NE(UsageMessage(garbage).find("is not a JSON object"), std::string::npos);
}

TEST(DxFaults, EveryCulpritPatternCompilesAndNamesAreUnique) {
  std::set<std::string> names;
  for (const DxFault& f : DxFaults()) {
    EXPECT_TRUE(names.insert(f.name).second) << f.name;
    EXPECT_NO_THROW(std::regex(f.culprit_pattern, std::regex::ECMAScript | std::regex::icase))
        << f.name;
    EXPECT_EQ(&DxFaultNamed(f.name), &f);
  }
  EXPECT_THROW(DxFaultNamed("nope"), UsageError);
}

TEST(DxFaults, TheDtypePatternKnowsEachFrameworksSpelling) {
  const std::regex dtype(DxFaultNamed("wrong_dtype").culprit_pattern,
                         std::regex::ECMAScript | std::regex::icase);
  for (const char* said :
       {"but got Byte and Float", "Actual: (tensor(uint8))", "MatMul[T=DT_UINT8, grad_a=false]",
        "has type float32 that does not "
        "match type uint8"}) {
    EXPECT_TRUE(std::regex_search(std::string(said), dtype)) << said;
  }
  EXPECT_FALSE(std::regex_search(std::string("uint80 bytes2"), dtype));
}

}  // namespace
}  // namespace fwbench

namespace fwbench {
namespace {

TEST(Utf8Text, PrefixNeverSplitsACharacterAndLengthCountsCharacters) {
  EXPECT_EQ(Utf8Prefix("abc", 3), "abc");
  EXPECT_EQ(Utf8Prefix("abcd", 3), "abc…");
  EXPECT_EQ(Utf8Prefix("aé", 2), "a…");  // é is 2 bytes: cut before it, not inside
  EXPECT_EQ(Utf8Length("aé•"), 3u);
}

}  // namespace
}  // namespace fwbench
