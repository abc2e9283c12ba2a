#pragma once
// SentencePiece tokenizers (a checkpoint's tokenizer.model) through Debian's libsentencepiece.
// Only the fwbench-tokenize tool links this: libsentencepiece carries its own protobuf, which
// clashes with the libprotobuf that LibTorch loads (a crash before main), so tokenizing with
// SentencePiece happens in a process without LibTorch (docs/llm.md).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "data/text_corpus.h"

namespace fwbench::tokenize {

// Throws UsageError naming the file when it is missing or not a SentencePiece model.
std::unique_ptr<data::Tokenizer> LoadSentencePieceTokenizer(
    const std::filesystem::path& model_file);

// Trains a SentencePiece model (unigram) on `text_file`, writing `<prefix>.model` — for tests and
// for users who want a tokenizer for their own corpus. Throws UsageError with SentencePiece's
// message.
void TrainSentencePiece(const std::filesystem::path& text_file, const std::string& prefix,
                        std::int64_t vocab_size);

}  // namespace fwbench::tokenize
