#include "data/text_corpus.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "data/safetensors.h"
#include "support/temp_dir_test.h"
#include "tokenize/sentencepiece_tokenizer.h"

namespace fwbench::data {
namespace {

namespace fs = std::filesystem;

using fwbench::testing::UsageErrorOf;

class TextCorpus : public fwbench::testing::TempDirTest {
 protected:
  fs::path Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return dir_ / name;
  }
  static std::string Slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

TEST_F(TextCorpus, JsonlGivesOneDocumentPerLineAndNamesTheBadLine) {
  const auto good = Write("a.jsonl", "{\"text\": \"hello\", \"id\": 1}\n\n{\"text\": \"world\"}\n");
  EXPECT_EQ(ReadDocuments(good), (std::vector<std::string>{"hello", "world"}));
  const auto bad = Write("b.jsonl", "{\"text\": \"ok\"}\n{\"text\": 3}\n");
  EXPECT_NE(UsageErrorOf([&] { ReadDocuments(bad); }).find("b.jsonl:2: no \"text\" string"),
            std::string::npos);
  const auto broken = Write("c.jsonl", "{\"text\": \"ok\"\n");
  EXPECT_NE(UsageErrorOf([&] { ReadDocuments(broken); }).find("c.jsonl:1: not a JSON object"),
            std::string::npos);
  EXPECT_NE(
      UsageErrorOf([&] { ReadDocuments(Write("d.csv", "x")); }).find("unknown extension '.csv'"),
      std::string::npos);
  EXPECT_NE(UsageErrorOf([&] { ReadDocuments(Write("e.txt", "")); }).find("holds no text"),
            std::string::npos);
  EXPECT_NE(UsageErrorOf([&] { ReadDocuments(dir_ / "absent.txt"); }).find("does not exist"),
            std::string::npos);
  EXPECT_EQ(ReadDocuments(Write("f.txt", "one\ntwo\n")), (std::vector<std::string>{"one\ntwo\n"}));
}

TEST_F(TextCorpus, SyntheticCorpusIsDeterministicAndStructured) {
  WriteSyntheticCorpus(dir_ / "a.jsonl", 7, 50);
  WriteSyntheticCorpus(dir_ / "b.jsonl", 7, 50);
  WriteSyntheticCorpus(dir_ / "c.jsonl", 8, 50);
  EXPECT_EQ(Slurp(dir_ / "a.jsonl"), Slurp(dir_ / "b.jsonl"));
  EXPECT_NE(Slurp(dir_ / "a.jsonl"), Slurp(dir_ / "c.jsonl"));
  const auto docs = ReadDocuments(dir_ / "a.jsonl");
  ASSERT_EQ(docs.size(), 50u);
  std::size_t counts = 0, gives = 0;
  for (const auto& d : docs) {
    counts += d.find("count:") != std::string::npos;
    gives += d.find(" and gives ") != std::string::npos;
  }
  EXPECT_GT(counts, 10u);
  EXPECT_GT(gives, 10u);
}

TEST_F(TextCorpus, BytesPackIntoWholeBlocksAndTooLittleTextIsAnError) {
  const auto bytes = MakeByteTokenizer();
  const TokenBlocks blocks = PackDocuments({"abc", "de"}, *bytes, 2, "test");
  // "abc\nde\n" = 7 ids → two blocks of 3, one id dropped.
  EXPECT_EQ(blocks.count(), 2);
  EXPECT_EQ(blocks.tokens, (std::vector<std::int32_t>{'a', 'b', 'c', '\n', 'd', 'e'}));
  EXPECT_EQ(blocks.vocab_size, 256);
  EXPECT_NE(UsageErrorOf([&] {
              PackDocuments({"a"}, *bytes, 8, "tiny.txt");
            }).find("tiny.txt: 2 tokens (bytes tokenizer), fewer than one sequence of 8 + 1"),
            std::string::npos);
}

TEST_F(TextCorpus, SentencePieceModelTrainsLoadsAndStartsDocumentsWithBos) {
  WriteSyntheticCorpus(dir_ / "corpus.jsonl", 1, 400);
  std::string plain;
  for (const auto& d : ReadDocuments(dir_ / "corpus.jsonl")) plain += d + "\n";
  const auto text = Write("corpus.txt", plain);
  tokenize::TrainSentencePiece(text, (dir_ / "sp").string(), 80);
  const auto sp = tokenize::LoadSentencePieceTokenizer(dir_ / "sp.model");
  EXPECT_EQ(sp->vocab_size(), 80);
  const auto ids = sp->EncodeDocument("the red cat sees the old hat.");
  ASSERT_GT(ids.size(), 2u);
  EXPECT_EQ(ids.front(), 1) << "BOS first, as the Llama tokenizer";
  EXPECT_LT(ids.size(), 29u) << "pieces are longer than bytes";
  for (auto id : ids) EXPECT_LT(id, 80);

  const auto not_a_model = Write("bogus.model", "not a protobuf");
  EXPECT_NE(UsageErrorOf([&] {
              tokenize::LoadSentencePieceTokenizer(not_a_model);
            }).find("is not a SentencePiece model"),
            std::string::npos);
}

TEST_F(TextCorpus, TokenFilesRoundTripAndBadIdsAreNamed) {
  const auto bytes = MakeByteTokenizer();
  const TokenBlocks blocks = PackDocuments({"hello world, hello tokens"}, *bytes, 4, "t");
  WriteTokenBlocks(blocks, dir_ / "tokens.safetensors");
  const TokenBlocks back = ReadTokenBlocks(dir_ / "tokens.safetensors");
  EXPECT_EQ(back.tokens, blocks.tokens);
  EXPECT_EQ(back.seq_len, 4);
  EXPECT_EQ(back.tokenizer, "bytes");
  EXPECT_EQ(back.vocab_size, 256);

  TokenBlocks bad = blocks;
  bad.tokens[3] = 300;
  WriteTokenBlocks(bad, dir_ / "bad.safetensors");
  EXPECT_NE(UsageErrorOf([&] {
              ReadTokenBlocks(dir_ / "bad.safetensors");
            }).find("id 300 at position 3 is outside the vocabulary [0, 256)"),
            std::string::npos);

  const std::vector<float> f(6, 0.f);
  safetensors::Write(dir_ / "floats.safetensors",
                     {{"tokens", safetensors::DType::kF32, {2, 3}, std::as_bytes(std::span(f))}});
  EXPECT_NE(UsageErrorOf([&] {
              ReadTokenBlocks(dir_ / "floats.safetensors");
            }).find("must hold a tensor \"tokens\" of dtype I32"),
            std::string::npos);
}

}  // namespace
}  // namespace fwbench::data
