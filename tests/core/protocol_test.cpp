#include "core/protocol.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "core/error.h"
#include "core/trial_spec.h"

namespace fwbench {
namespace {

std::string Written(const std::function<void(protocol::EventWriter&)>& write) {
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* f = open_memstream(&buffer, &size);
  {
    protocol::EventWriter events(f);
    write(events);
  }
  std::fclose(f);
  std::string out(buffer, size);
  std::free(buffer);
  return out;
}

TEST(Protocol, TokenStepsCarryTheirCountsAndFirstTokenTimeAndParseBack) {
  const std::string line = Written([](protocol::EventWriter& e) {
    e.WriteStep(3, 100, 200, 2, std::nullopt,
                {.tokens = 32, .prompt_tokens = 128, .t_first_token = 150});
  });
  EXPECT_EQ(line,
            "{\"event\":\"step\",\"i\":3,\"t0\":100,\"t1\":200,\"samples\":2,\"tokens\":32,"
            "\"prompt_tokens\":128,\"t_first_token\":150}\n");
  std::string error;
  const auto parsed = protocol::ParseEventLine(line.substr(0, line.size() - 1), error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->body["tokens"], 32);
}

TEST(Protocol, TokenFieldsThatCannotBeTrueAreProtocolErrors) {
  std::string error;
  EXPECT_FALSE(protocol::ParseEventLine(
      R"({"event":"step","i":0,"t0":100,"t1":200,"samples":2,"tokens":-1})", error));
  EXPECT_NE(error.find("\"tokens\" that is not a non-negative integer"), std::string::npos)
      << error;
  EXPECT_FALSE(protocol::ParseEventLine(
      R"({"event":"step","i":0,"t0":100,"t1":200,"samples":2,"tokens":4,"t_first_token":250})",
      error));
  EXPECT_NE(error.find("\"t_first_token\" outside [t0, t1]"), std::string::npos) << error;
}

TEST(Protocol, PipelineStepsGoOutTogetherWithTheirBatchArrivalAndParseBack) {
  const std::string text = Written([](protocol::EventWriter& e) {
    e.WritePipelineSteps(
        {{.index = 0, .t0_ns = 10, .t_input_ns = 15, .t1_ns = 20, .samples = 4},
         {.index = 1, .t0_ns = 20, .t_input_ns = 21, .t1_ns = 40, .samples = 4, .loss = 2.5}});
  });
  EXPECT_EQ(text,
            "{\"event\":\"step\",\"i\":0,\"t0\":10,\"t1\":20,\"samples\":4,\"t_input\":15}\n"
            "{\"event\":\"step\",\"i\":1,\"t0\":20,\"t1\":40,\"samples\":4,\"t_input\":21,"
            "\"loss\":2.5}\n");
  std::string error;
  const auto parsed = protocol::ParseEventLine(text.substr(0, text.find('\n')), error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->body["t_input"], 15);
  EXPECT_FALSE(protocol::ParseEventLine(
      R"({"event":"step","i":0,"t0":100,"t1":200,"samples":2,"t_input":99})", error));
  EXPECT_NE(error.find("\"t_input\" outside [t0, t1]"), std::string::npos) << error;
}

TEST(TrialSpecLlm, TheLlmObjectRoundTripsAndIsRequiredByItsWorkload) {
  TrialSpec spec;
  spec.workload = kWorkloadLlm;
  spec.llm.tokens = "/tmp/tokens.safetensors";
  spec.llm.adapter_init = "/tmp/adapter";
  spec.llm.lora_targets = {"q_proj", "down_proj"};
  spec.llm.decode_tokens = 7;
  const TrialSpec back = TrialSpecFromJson(ToJson(spec), "spec.json");
  EXPECT_EQ(back.workload, kWorkloadLlm);
  EXPECT_EQ(back.llm.tokens, spec.llm.tokens);
  EXPECT_EQ(back.llm.lora_targets, spec.llm.lora_targets);
  EXPECT_EQ(back.llm.decode_tokens, 7);

  nlohmann::json j = ToJson(spec);
  j.erase("llm");
  try {
    TrialSpecFromJson(j, "spec.json");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("needs an \"llm\" object"), std::string::npos);
  }
  j = ToJson(spec);
  j["workload"] = "speech";
  try {
    TrialSpecFromJson(j, "spec.json");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("field \"workload\" must be"), std::string::npos);
  }
  j = ToJson(spec);
  j["llm"]["lora_targets"] = "q_proj";
  try {
    TrialSpecFromJson(j, "spec.json");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("llm.lora_targets\" must be a list of strings"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace fwbench
