// A minimal wrapper around SentencePiece, which lives in a dlopen'd plugin
// (sentencepiece_plugin.cc explains why); no SentencePiece or Abseil header is included here.
#ifndef PDSERVE_DECODER_SENTENCEPIECE_ADAPTER_H_
#define PDSERVE_DECODER_SENTENCEPIECE_ADAPTER_H_

#include <memory>
#include <string>
#include <vector>

namespace pdserve::decoder::internal {

// Immutable after Load; thread-safe.
class SentencePieceModel {
 public:
  // Loads a tokenizer.model; on failure returns null and sets *error.
  static std::unique_ptr<SentencePieceModel> Load(const std::string& path, std::string* error);
  ~SentencePieceModel();

  // False (and *error set) if SentencePiece rejects the text.
  bool Encode(const std::string& text, std::vector<int>* ids, std::string* error) const;
  std::string Decode(const std::vector<int>& ids) const;
  int piece_size() const;
  int bos_id() const;
  int eos_id() const;

 private:
  struct Impl;
  explicit SentencePieceModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pdserve::decoder::internal

#endif  // PDSERVE_DECODER_SENTENCEPIECE_ADAPTER_H_
