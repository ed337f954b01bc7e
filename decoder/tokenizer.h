// Text <-> token ids: SentencePiece when the model directory has tokenizer.model, else bytes.
#ifndef PDSERVE_DECODER_TOKENIZER_H_
#define PDSERVE_DECODER_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "decoder/config.h"

namespace pdserve::decoder {

class Model;

// Byte-level fallback id mapping (Llama's SentencePiece layout): 0 <unk>, 1 <s> (BOS),
// 2 </s> (EOS), and byte b -> id 3 + b. Needs vocab_size >= 259.
inline constexpr int32_t kByteTokenOffset = 3;
inline constexpr int32_t kByteVocabSize = kByteTokenOffset + 256;

// Immutable after Create; thread-safe.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // For `model`: SentencePiece if model.directory() holds tokenizer.model, else bytes.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Create(const Model& model);
  // Same from a directory ("" or a synthetic name: bytes) and the model's config.
  // INVALID_ARGUMENT if the tokenizer's ids do not fit config.vocab_size; a bad tokenizer.model is
  // DATA_LOSS naming the file.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Create(std::string_view dir,
                                                           const ModelConfig& config);

  // Token ids of `text`, without BOS (prepend bos_id() if the model wants it).
  virtual absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text) const = 0;
  // Text of `ids`. Ids with no text (special, out of range) are skipped.
  virtual std::string Decode(absl::Span<const int32_t> ids) const = 0;
  virtual int32_t bos_id() const = 0;
  virtual int32_t eos_id() const = 0;
  // "sentencepiece" or "bytes".
  virtual std::string_view kind() const = 0;
};

}  // namespace pdserve::decoder

#endif  // PDSERVE_DECODER_TOKENIZER_H_
