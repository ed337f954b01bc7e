// Trains a SentencePiece model for tests through the SentencePiece plugin.
#include <fstream>
#include <string>

#include "decoder/sentencepiece_adapter.h"

namespace pdserve::decoder::testing {

// Declared in decoder/test_util.h (not included: it pulls in Abseil).

bool TrainSentencePiece(const std::string& dir, const std::string& text, int vocab_size,
                        std::string* error) {
  const std::string corpus = dir + "/corpus.txt";
  {
    std::ofstream out(corpus);
    out << text;
  }
  const std::string args = "--input=" + corpus + " --model_prefix=" + dir + "/tokenizer" +
                           " --vocab_size=" + std::to_string(vocab_size) +
                           " --model_type=bpe --byte_fallback=true --minloglevel=2";
  return internal::TrainSentencePieceModel(args, error);
}

}  // namespace pdserve::decoder::testing
