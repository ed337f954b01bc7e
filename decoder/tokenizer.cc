// SentencePiece and byte-level tokenizers.
#include "decoder/tokenizer.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "decoder/model.h"
#include "decoder/synthetic.h"
#include "decoder/sentencepiece_adapter.h"

namespace pdserve::decoder {
namespace {

class ByteTokenizer : public Tokenizer {
 public:
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text) const override {
    std::vector<int32_t> ids;
    ids.reserve(text.size());
    for (unsigned char c : text) ids.push_back(kByteTokenOffset + c);
    return ids;
  }
  std::string Decode(absl::Span<const int32_t> ids) const override {
    std::string out;
    for (int32_t id : ids) {
      if (id >= kByteTokenOffset && id < kByteVocabSize) {
        out.push_back(static_cast<char>(id - kByteTokenOffset));
      }
    }
    return out;
  }
  int32_t bos_id() const override { return 1; }
  int32_t eos_id() const override { return 2; }
  std::string_view kind() const override { return "bytes"; }
};

class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(std::unique_ptr<internal::SentencePieceModel> sp)
      : sp_(std::move(sp)) {}
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text) const override {
    std::vector<int> ids;
    std::string error;
    if (!sp_->Encode(std::string(text), &ids, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("text: ", error));
    }
    return std::vector<int32_t>(ids.begin(), ids.end());
  }
  std::string Decode(absl::Span<const int32_t> ids) const override {
    std::vector<int> v;
    for (int32_t id : ids) {
      if (id >= 0 && id < sp_->piece_size()) v.push_back(id);
    }
    return sp_->Decode(v);
  }
  int32_t bos_id() const override { return sp_->bos_id(); }
  int32_t eos_id() const override { return sp_->eos_id(); }
  std::string_view kind() const override { return "sentencepiece"; }

 private:
  std::unique_ptr<internal::SentencePieceModel> sp_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Create(const Model& model) {
  return Create(model.directory(), model.config());
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Create(std::string_view dir,
                                                             const ModelConfig& config) {
  const std::string path = absl::StrCat(absl::string_view(dir.data(), dir.size()), "/tokenizer.model");
  struct stat st;
  const bool has_sp = !dir.empty() && !IsSyntheticName(absl::string_view(dir.data(), dir.size())) &&
                      ::stat(path.c_str(), &st) == 0;
  if (has_sp) {
    std::string error;
    auto sp = internal::SentencePieceModel::Load(path, &error);
    if (sp == nullptr) return absl::DataLossError(absl::StrCat(path, ": cannot load: ", error));
    if (sp->piece_size() > config.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tokenizer has ", sp->piece_size(),
                                                     " pieces, more than vocab_size ",
                                                     config.vocab_size));
    }
    return std::unique_ptr<Tokenizer>(new SentencePieceTokenizer(std::move(sp)));
  }
  if (config.vocab_size < kByteVocabSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "byte-level tokenizer needs vocab_size >= ", kByteVocabSize, ", got ", config.vocab_size));
  }
  return std::unique_ptr<Tokenizer>(new ByteTokenizer());
}

}  // namespace pdserve::decoder
