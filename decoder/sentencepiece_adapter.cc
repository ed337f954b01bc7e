// SentencePiece behind a plain std:: interface (see the header for why).
#include "decoder/sentencepiece_adapter.h"

#include "sentencepiece_processor.h"

namespace pdserve::decoder::internal {

struct SentencePieceModel::Impl {
  sentencepiece::SentencePieceProcessor sp;
};

SentencePieceModel::SentencePieceModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SentencePieceModel::~SentencePieceModel() = default;

std::unique_ptr<SentencePieceModel> SentencePieceModel::Load(const std::string& path,
                                                             std::string* error) {
  auto impl = std::make_unique<Impl>();
  const auto status = impl->sp.Load(path);
  if (!status.ok()) {
    *error = status.ToString();
    return nullptr;
  }
  return std::unique_ptr<SentencePieceModel>(new SentencePieceModel(std::move(impl)));
}

bool SentencePieceModel::Encode(const std::string& text, std::vector<int>* ids,
                                std::string* error) const {
  const auto status = impl_->sp.Encode(text, ids);
  if (!status.ok()) {
    *error = status.ToString();
    return false;
  }
  return true;
}

std::string SentencePieceModel::Decode(const std::vector<int>& ids) const {
  std::string out;
  if (!impl_->sp.Decode(ids, &out).ok()) return std::string();
  return out;
}

int SentencePieceModel::piece_size() const { return impl_->sp.GetPieceSize(); }
int SentencePieceModel::bos_id() const { return impl_->sp.bos_id(); }
int SentencePieceModel::eos_id() const { return impl_->sp.eos_id(); }

}  // namespace pdserve::decoder::internal
