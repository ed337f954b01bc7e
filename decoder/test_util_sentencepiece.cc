// Writes a small SentencePiece BPE model for tests by serializing its ModelProto by hand
// (no trainer needed: training through the plugin would need the trainer library too).
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "decoder/test_util.h"

namespace pdserve::decoder::testing {
namespace {

// Protobuf wire format helpers.
void Varint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
void Tag(int field, int wire_type, std::string* out) { Varint((field << 3) | wire_type, out); }
void Bytes(int field, const std::string& s, std::string* out) {
  Tag(field, 2, out);
  Varint(s.size(), out);
  out->append(s);
}
void Int(int field, int64_t v, std::string* out) {
  Tag(field, 0, out);
  Varint(static_cast<uint64_t>(v), out);
}
void Float(int field, float v, std::string* out) {
  Tag(field, 5, out);
  char b[4];
  std::memcpy(b, &v, 4);
  out->append(b, 4);
}

// ModelProto.SentencePiece types.
constexpr int kNormal = 1, kUnknown = 2, kControl = 3, kByte = 6;

}  // namespace

std::vector<std::string> SentencePieceTestPieces() {
  // Word pieces reachable by BPE merges of adjacent pieces ("\xe2\x96\x81" is the space mark).
  const std::string s = "\xe2\x96\x81";
  return {s,          "h",           "e",          "l",          "o",          "t",
          "w",        "r",           "d",          s + "h",      s + "he",     s + "hel",
          s + "hell", s + "hello",   s + "t",      s + "th",     s + "the",    s + "w",
          s + "wo",   s + "wor",     s + "worl",   s + "world"};
}

void WriteSentencePieceModel(const std::string& dir) {
  std::string model;
  auto piece = [&](const std::string& text, float score, int type) {
    std::string p;
    Bytes(1, text, &p);
    Float(2, score, &p);
    Int(3, type, &p);
    Bytes(1, p, &model);  // ModelProto.pieces
  };
  piece("<unk>", 0, kUnknown);
  piece("<s>", 0, kControl);
  piece("</s>", 0, kControl);
  for (int b = 0; b < 256; ++b) piece(absl::StrFormat("<0x%02X>", b), 0, kByte);
  const auto pieces = SentencePieceTestPieces();
  for (size_t i = 0; i < pieces.size(); ++i) {
    // Longer pieces score higher so BPE merges all the way up.
    piece(pieces[i], -100.0f + static_cast<float>(pieces[i].size()), kNormal);
  }
  std::string trainer;
  Int(3, 2, &trainer);  // model_type = BPE
  Int(4, static_cast<int64_t>(3 + 256 + pieces.size()), &trainer);  // vocab_size
  Int(35, 1, &trainer);  // byte_fallback
  Bytes(2, trainer, &model);
  std::string normalizer;
  Bytes(1, "identity", &normalizer);
  Int(3, 1, &normalizer);  // add_dummy_prefix
  Int(4, 1, &normalizer);  // remove_extra_whitespaces
  Int(5, 1, &normalizer);  // escape_whitespaces
  Bytes(3, normalizer, &model);
  std::ofstream(dir + "/tokenizer.model", std::ios::binary) << model;
}

}  // namespace pdserve::decoder::testing
