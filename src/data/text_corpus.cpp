#include "data/text_corpus.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/bounded_json.h"
#include "core/error.h"
#include "data/safetensors.h"

namespace fwbench::data {

namespace {

namespace fs = std::filesystem;
namespace st = fwbench::safetensors;

std::uint64_t SplitMix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

template <std::size_t N>
const char* Pick(const std::array<const char*, N>& words, std::uint64_t& state) {
  return words[SplitMix64(state) % N];
}

constexpr std::array<const char*, 12> kNames = {"ada", "bob",  "cleo", "dan", "eve", "finn",
                                                "gus", "hana", "ivan", "jo",  "kai", "lena"};
constexpr std::array<const char*, 10> kNouns = {"apple", "book",  "cat", "drum", "egg",
                                                "flute", "glove", "hat", "kite", "lamp"};
constexpr std::array<const char*, 8> kAdjectives = {"red",   "small", "old",  "green",
                                                    "heavy", "quiet", "blue", "bright"};
constexpr std::array<const char*, 8> kVerbs = {"sees",   "finds",  "likes", "moves",
                                               "paints", "brings", "keeps", "drops"};
constexpr std::array<const char*, 10> kNumbers = {"zero", "one", "two",   "three", "four",
                                                  "five", "six", "seven", "eight", "nine"};

std::string Sentence(std::uint64_t& state) {
  switch (SplitMix64(state) % 3) {
    case 0:
      return fmt::format("the {} {} {} the {} {}.", Pick(kAdjectives, state), Pick(kNouns, state),
                         Pick(kVerbs, state), Pick(kAdjectives, state), Pick(kNouns, state));
    case 1: {
      const auto have = 2 + SplitMix64(state) % 8;
      const auto give = 1 + SplitMix64(state) % (have - 1);
      const char* who = Pick(kNames, state);
      return fmt::format("{} has {} {}s and gives {} to {}, so {} has {} left.", who,
                         kNumbers[have], Pick(kNouns, state), kNumbers[give], Pick(kNames, state),
                         who, kNumbers[have - give]);
    }
    default: {
      std::string run = "count:";
      const auto start = SplitMix64(state) % 5;
      for (std::uint64_t i = start; i < start + 5; ++i) run += fmt::format(" {}", kNumbers[i]);
      return run + ".";
    }
  }
}

class ByteTokenizer final : public Tokenizer {
 public:
  std::vector<std::int32_t> EncodeDocument(std::string_view text) const override {
    std::vector<std::int32_t> ids;
    ids.reserve(text.size() + 1);
    for (const char c : text) ids.push_back(static_cast<unsigned char>(c));
    ids.push_back('\n');
    return ids;
  }
  std::int64_t vocab_size() const override { return 256; }
  std::string name() const override { return "bytes"; }
};

}  // namespace

std::vector<std::string> ReadDocuments(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw UsageError(fmt::format(
        "text corpus '{}' does not exist or cannot be read (expected a .txt file or a .jsonl file "
        "with a \"text\" field per line)",
        path.string()));
  }
  std::vector<std::string> documents;
  if (path.extension() == ".jsonl") {
    std::string line;
    std::size_t number = 0;
    while (std::getline(in, line)) {
      ++number;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json j;
      try {
        j = ParseBoundedJson(line);
      } catch (const std::exception& e) {  // nlohmann's parse_error, or nesting past the bound
        throw UsageError(
            fmt::format("{}:{}: not a JSON object ({}); a .jsonl corpus has one object with a "
                        "\"text\" string per line",
                        path.string(), number, e.what()));
      }
      const auto text = j.is_object() ? j.find("text") : j.end();
      if (!j.is_object() || text == j.end() || !text->is_string()) {
        throw UsageError(fmt::format(
            "{}:{}: no \"text\" string field; a .jsonl corpus has one object with a \"text\" "
            "string per line",
            path.string(), number));
      }
      documents.push_back(text->get<std::string>());
    }
  } else if (path.extension() == ".txt") {
    std::ostringstream s;
    s << in.rdbuf();
    documents.push_back(s.str());
  } else {
    throw UsageError(fmt::format(
        "text corpus '{}': unknown extension '{}' (expected .txt, one document, or .jsonl, a "
        "\"text\" field per line)",
        path.string(), path.extension().string()));
  }
  std::size_t bytes = 0;
  for (const auto& d : documents) bytes += d.size();
  if (bytes == 0) throw UsageError(fmt::format("text corpus '{}' holds no text", path.string()));
  return documents;
}

void WriteSyntheticCorpus(const fs::path& path, std::uint64_t seed, std::int64_t documents) {
  if (documents <= 0) {
    throw UsageError(fmt::format("synthetic corpus: {} documents, expected at least 1", documents));
  }
  std::string out;
  std::uint64_t state = seed ^ 0x6c6c6d2d636f7270ULL;  // "llm-corp": a stream of its own
  for (std::int64_t d = 0; d < documents; ++d) {
    std::string text;
    const auto sentences = 4 + SplitMix64(state) % 5;
    for (std::uint64_t s = 0; s < sentences; ++s) text += (s ? " " : "") + Sentence(state);
    out += nlohmann::json({{"text", text}}).dump() + "\n";
  }
  WriteFileAtomically(path, out);
}

std::unique_ptr<Tokenizer> MakeByteTokenizer() { return std::make_unique<ByteTokenizer>(); }

TokenBlocks PackDocuments(const std::vector<std::string>& documents, const Tokenizer& tokenizer,
                          std::int64_t seq_len, const std::string& source) {
  if (seq_len <= 0) throw UsageError(fmt::format("sequence length {} must be positive", seq_len));
  TokenBlocks blocks;
  blocks.seq_len = seq_len;
  blocks.tokenizer = tokenizer.name();
  blocks.vocab_size = tokenizer.vocab_size();
  for (const auto& d : documents) {
    const auto ids = tokenizer.EncodeDocument(d);
    blocks.tokens.insert(blocks.tokens.end(), ids.begin(), ids.end());
  }
  const auto block = static_cast<std::size_t>(seq_len + 1);
  const std::size_t whole = blocks.tokens.size() / block;
  if (whole == 0) {
    throw UsageError(fmt::format(
        "{}: {} tokens ({} tokenizer), fewer than one sequence of {} + 1; give more text or a "
        "shorter sequence length",
        source, blocks.tokens.size(), tokenizer.name(), seq_len));
  }
  blocks.tokens.resize(whole * block);
  return blocks;
}

void WriteTokenBlocks(const TokenBlocks& blocks, const fs::path& path) {
  st::Write(path,
            {st::TensorToWrite{"tokens",
                               st::DType::kI32,
                               {blocks.count(), blocks.seq_len + 1},
                               std::as_bytes(std::span(blocks.tokens))}},
            {{"tokenizer", blocks.tokenizer},
             {"vocab_size", std::to_string(blocks.vocab_size)},
             {"seq_len", std::to_string(blocks.seq_len)}});
}

TokenBlocks ReadTokenBlocks(const fs::path& path) {
  const st::File file = st::File::Read(path);
  const st::TensorInfo* info = file.Find("tokens");
  if (info == nullptr || info->dtype != st::DType::kI32 || info->shape.size() != 2 ||
      info->shape[1] < 2 || info->shape[0] < 1) {
    throw UsageError(fmt::format(
        "token file '{}' must hold a tensor \"tokens\" of dtype I32 and shape [sequences, "
        "seq_len + 1] with at least one sequence of 2 or more tokens",
        path.string()));
  }
  TokenBlocks blocks;
  blocks.seq_len = info->shape[1] - 1;
  blocks.tokens.resize(static_cast<std::size_t>(info->num_elements()));
  const auto bytes = file.Bytes(*info);
  std::memcpy(blocks.tokens.data(), bytes.data(), bytes.size());
  const auto& meta = file.metadata();
  if (const auto it = meta.find("tokenizer"); it != meta.end()) blocks.tokenizer = it->second;
  if (const auto it = meta.find("vocab_size"); it != meta.end()) {
    try {
      blocks.vocab_size = std::stoll(it->second);
    } catch (const std::exception&) {
      throw UsageError(fmt::format("token file '{}': metadata vocab_size \"{}\" is not a number",
                                   path.string(), it->second));
    }
  }
  for (std::size_t i = 0; i < blocks.tokens.size(); ++i) {
    const std::int32_t id = blocks.tokens[i];
    if (id < 0 || (blocks.vocab_size > 0 && id >= blocks.vocab_size)) {
      throw UsageError(
          fmt::format("token file '{}': id {} at position {} is outside the "
                      "vocabulary [0, {})",
                      path.string(), id, i, blocks.vocab_size));
    }
  }
  return blocks;
}

}  // namespace fwbench::data
