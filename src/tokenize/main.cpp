// fwbench-tokenize: SentencePiece tokenization in a process of its own (see
// sentencepiece_tokenizer.h for why). `fwbench run` calls `pack`; `train` makes a tokenizer.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/text_corpus.h"
#include "tokenize/sentencepiece_tokenizer.h"

int main(int argc, char** argv) {
  CLI::App app{
      "fwbench-tokenize: SentencePiece tokenization for fwbench's LLM workload, in a process "
      "without LibTorch (whose protobuf clashes with libsentencepiece's)."};
  app.require_subcommand(1);
  std::string corpus, model, out, input, prefix;
  std::int64_t seq_len = 128, vocab_size = 8000;
  CLI::App* pack = app.add_subcommand(
      "pack",
      "Tokenize a .txt/.jsonl corpus with a tokenizer.model and pack it into a token file "
      "(safetensors \"tokens\" I32 [sequences, seq_len + 1]); prints {vocab_size, sequences, "
      "tokenizer} as JSON");
  pack->add_option("--corpus", corpus, "Text: .txt (one document) or .jsonl (\"text\" per line)")
      ->required();
  pack->add_option("--tokenizer", model, "SentencePiece tokenizer.model")->required();
  pack->add_option("--seq-len", seq_len, "Tokens per training sequence")->required();
  pack->add_option("--out", out, "Token file to write")->required();
  CLI::App* info = app.add_subcommand("info", "Print the tokenizer's vocabulary size as JSON");
  info->add_option("--tokenizer", model, "SentencePiece tokenizer.model")->required();
  CLI::App* train = app.add_subcommand(
      "train", "Train a unigram SentencePiece model on a text file (writes PREFIX.model)");
  train->add_option("--input", input, "Plain text, one sentence per line")->required();
  train->add_option("--prefix", prefix, "Output prefix")->required();
  train->add_option("--vocab-size", vocab_size, "Vocabulary size (at most)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (*pack) {
      const auto tokenizer = fwbench::tokenize::LoadSentencePieceTokenizer(model);
      const auto blocks = fwbench::data::PackDocuments(fwbench::data::ReadDocuments(corpus),
                                                       *tokenizer, seq_len, corpus);
      fwbench::data::WriteTokenBlocks(blocks, out);
      std::cout << nlohmann::json{{"vocab_size", blocks.vocab_size},
                                  {"sequences", blocks.count()},
                                  {"tokenizer", blocks.tokenizer}}
                       .dump()
                << "\n";
    } else if (*info) {
      const auto tokenizer = fwbench::tokenize::LoadSentencePieceTokenizer(model);
      std::cout << nlohmann::json{{"vocab_size", tokenizer->vocab_size()},
                                  {"tokenizer", tokenizer->name()}}
                       .dump()
                << "\n";
    } else {
      fwbench::tokenize::TrainSentencePiece(input, prefix, vocab_size);
    }
    return 0;
  } catch (const fwbench::UsageError& e) {
    std::cerr << "fwbench-tokenize: " << e.what() << "\n";
    return fwbench::kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "fwbench-tokenize: " << e.what() << "\n";
    return fwbench::kExitFailure;
  }
}
