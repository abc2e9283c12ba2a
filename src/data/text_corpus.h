#pragma once
// Text for the LLM workloads: documents from .txt or .jsonl files, a deterministic synthetic
// corpus with learnable structure (the embedded default), the byte tokenizer, and packing into
// fixed-length sequences. SentencePiece lives in src/tokenize/, a process of its own: its
// bundled protobuf clashes with the one LibTorch loads.
//
// A plan tokenizes once, before any trial: the packed sequences are written as a token file
// (safetensors, tensor "tokens", I32 [sequences, seq_len + 1]) that every backend reads, so
// every framework trains on the same token ids in the same order without a tokenizer of its own.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fwbench::data {

// One document per .jsonl line (its "text" string field; every other field ignored; blank lines
// skipped), or the whole .txt file as one document. Throws UsageError naming the file and line
// (bad JSON, no "text" string, not UTF-8 readable, empty corpus).
std::vector<std::string> ReadDocuments(const std::filesystem::path& path);

// `documents` documents of deterministic English-like text with structure a small model learns
// in a few dozen steps (a fixed vocabulary of words, sentence templates, counting runs), written
// as .jsonl. The same seed gives the same bytes on every machine.
void WriteSyntheticCorpus(const std::filesystem::path& path, std::uint64_t seed,
                          std::int64_t documents);

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // The ids of one document, with the beginning-of-sequence id first where the tokenizer has one
  // (as Hugging Face's Llama tokenizer adds it).
  virtual std::vector<std::int32_t> EncodeDocument(std::string_view text) const = 0;
  virtual std::int64_t vocab_size() const = 0;
  // "bytes" or "sentencepiece:<file>".
  virtual std::string name() const = 0;
};

// Ids 0–255 are the bytes of the UTF-8 text; documents are separated by a newline byte.
std::unique_ptr<Tokenizer> MakeByteTokenizer();

struct TokenBlocks {
  std::int64_t seq_len = 0;          // a training sample is seq_len inputs + 1 target
  std::vector<std::int32_t> tokens;  // count() × (seq_len + 1), row-major
  std::string tokenizer;             // Tokenizer::name()
  std::int64_t vocab_size = 0;

  std::int64_t count() const { return static_cast<std::int64_t>(tokens.size()) / (seq_len + 1); }
};

// Concatenates the documents' ids and cuts the stream into consecutive blocks of seq_len + 1 ids
// (the remainder is dropped). Throws UsageError when there is not one whole block.
TokenBlocks PackDocuments(const std::vector<std::string>& documents, const Tokenizer& tokenizer,
                          std::int64_t seq_len, const std::string& source);

void WriteTokenBlocks(const TokenBlocks& blocks, const std::filesystem::path& path);
// Checks the file (tensor "tokens", I32, 2-D, ids in [0, vocab_size)); throws UsageError naming
// the file.
TokenBlocks ReadTokenBlocks(const std::filesystem::path& path);

}  // namespace fwbench::data
