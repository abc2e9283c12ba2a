#include "tokenize/sentencepiece_tokenizer.h"

#include <fmt/format.h>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include "core/error.h"

namespace fwbench::tokenize {

namespace {

namespace fs = std::filesystem;

class SentencePieceTokenizer final : public data::Tokenizer {
 public:
  explicit SentencePieceTokenizer(const fs::path& file) : file_(file) {
    if (!fs::exists(file)) {
      throw UsageError(fmt::format("tokenizer '{}' does not exist", file.string()));
    }
    const auto status = processor_.Load(file.string());
    if (!status.ok()) {
      throw UsageError(fmt::format("tokenizer '{}' is not a SentencePiece model: {}", file.string(),
                                   status.ToString()));
    }
  }
  std::vector<std::int32_t> EncodeDocument(std::string_view text) const override {
    std::vector<int> ids;
    const auto status = processor_.Encode(text, &ids);
    if (!status.ok()) {
      throw UsageError(
          fmt::format("tokenizer '{}': cannot encode: {}", file_.string(), status.ToString()));
    }
    std::vector<std::int32_t> out;
    out.reserve(ids.size() + 1);
    if (processor_.bos_id() >= 0) out.push_back(processor_.bos_id());
    out.insert(out.end(), ids.begin(), ids.end());
    return out;
  }
  std::int64_t vocab_size() const override { return processor_.GetPieceSize(); }
  std::string name() const override { return "sentencepiece:" + file_.filename().string(); }

 private:
  fs::path file_;
  sentencepiece::SentencePieceProcessor processor_;
};

}  // namespace

std::unique_ptr<data::Tokenizer> LoadSentencePieceTokenizer(const fs::path& model_file) {
  return std::make_unique<SentencePieceTokenizer>(model_file);
}

void TrainSentencePiece(const fs::path& text_file, const std::string& prefix,
                        std::int64_t vocab_size) {
  const auto status = sentencepiece::SentencePieceTrainer::Train(
      fmt::format("--input={} --model_prefix={} --vocab_size={} --model_type=unigram "
                  "--character_coverage=1.0 --bos_id=1 --eos_id=2 --unk_id=0 "
                  "--minloglevel=2 --hard_vocab_limit=false",
                  text_file.string(), prefix, vocab_size));
  if (!status.ok()) {
    throw UsageError(fmt::format("training a SentencePiece model on '{}' failed: {}",
                                 text_file.string(), status.ToString()));
  }
}

}  // namespace fwbench::tokenize
