// Tests of the byte-level and SentencePiece tokenizers.
#include "decoder/tokenizer.h"

#include <algorithm>

#include "decoder/model.h"
#include "decoder/synthetic.h"
#include "decoder/test_util.h"
#include "gtest/gtest.h"

namespace pdserve::decoder {
namespace {

// A build without the SentencePiece plugin (PDSERVE_SENTENCEPIECE_PLUGIN=OFF, as the aarch64
// cross build) cannot run SentencePiece; it must refuse a tokenizer.model instead.
#ifdef PDSERVE_HAVE_SENTENCEPIECE_PLUGIN
constexpr bool kHavePlugin = true;
#else
constexpr bool kHavePlugin = false;
#endif
constexpr char kNoPlugin[] = "built without the SentencePiece plugin";

TEST(TokenizerTest, ByteFallbackRoundTrips) {
  auto config = SyntheticConfig("synthetic:tiny");
  ASSERT_TRUE(config.ok());
  auto tok = Tokenizer::Create("synthetic:tiny", *config);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->kind(), "bytes");
  const std::string text = "héllo\n\x01\xff world";
  auto ids = (*tok)->Encode(text);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->size(), text.size());
  EXPECT_EQ((*ids)[0], kByteTokenOffset + 'h');
  EXPECT_EQ((*tok)->Decode(*ids), text);
  // Specials and out-of-range ids have no text.
  std::vector<int32_t> with_specials = {1, (*ids)[0], 2, 511, -4};
  EXPECT_EQ((*tok)->Decode(with_specials), "h");
  EXPECT_EQ((*tok)->bos_id(), config->bos_token_id);
  EXPECT_EQ((*tok)->eos_id(), config->eos_token_ids[0]);
}

TEST(TokenizerTest, ByteFallbackNeedsRoom) {
  ModelConfig c = testing::SmallConfig(4, 2, false);
  c.vocab_size = 100;
  EXPECT_EQ(Tokenizer::Create("", c).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TokenizerTest, FromModel) {
  auto model = Model::Load("synthetic:tiny");
  ASSERT_TRUE(model.ok());
  auto tok = Tokenizer::Create(**model);
  ASSERT_TRUE(tok.ok());
  EXPECT_EQ((*tok)->kind(), "bytes");
}

TEST(TokenizerTest, SentencePieceWhenDirectoryHasTokenizerModel) {
  if (!kHavePlugin) GTEST_SKIP() << kNoPlugin;
  testing::TempDir dir;
  testing::WriteSentencePieceModel(dir.path());
  ModelConfig c = testing::SmallConfig(4, 2, false);
  c.vocab_size = 300;
  auto tok = Tokenizer::Create(dir.path(), c);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->kind(), "sentencepiece");
  EXPECT_EQ((*tok)->bos_id(), 1);
  EXPECT_EQ((*tok)->eos_id(), 2);
  auto ids = (*tok)->Encode("hello world the");
  ASSERT_TRUE(ids.ok()) << ids.status();
  // Three word pieces: "\u2581hello", "\u2581world", "\u2581the".
  const int32_t base = 3 + 256;
  const auto pieces = testing::SentencePieceTestPieces();
  auto id_of = [&](const std::string& p) {
    return base + static_cast<int32_t>(std::find(pieces.begin(), pieces.end(), p) - pieces.begin());
  };
  const std::string mark = "\xe2\x96\x81";
  EXPECT_EQ(*ids, std::vector<int32_t>({id_of(mark + "hello"), id_of(mark + "world"),
                                        id_of(mark + "the")}));
  EXPECT_EQ((*tok)->Decode(*ids), "hello world the");
  // Characters outside the pieces fall back to bytes and still round-trip.
  auto mixed = (*tok)->Encode("hello \xc3\xa9X!");
  ASSERT_TRUE(mixed.ok());
  for (int32_t id : *mixed) EXPECT_LT(id, 300);
  EXPECT_EQ((*tok)->Decode(*mixed), "hello \xc3\xa9X!");
  // A vocabulary too small for the tokenizer is rejected.
  c.vocab_size = 100;
  EXPECT_EQ(Tokenizer::Create(dir.path(), c).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TokenizerTest, CorruptTokenizerModelIsDataLoss) {
  if (!kHavePlugin) GTEST_SKIP() << kNoPlugin;
  testing::TempDir dir;
  testing::WriteFile(dir.path() + "/tokenizer.model", "not a model");
  const absl::Status s = Tokenizer::Create(dir.path(), testing::SmallConfig(4, 2, false)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

#ifndef PDSERVE_HAVE_SENTENCEPIECE_PLUGIN
TEST(TokenizerTest, WithoutPluginTokenizerModelIsRefused) {
  testing::TempDir dir;
  testing::WriteSentencePieceModel(dir.path());
  ModelConfig c = testing::SmallConfig(4, 2, false);
  c.vocab_size = 300;
  const absl::Status s = Tokenizer::Create(dir.path(), c).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("tokenizer.model: cannot load: SentencePiece plugin not found"),
            absl::string_view::npos)
      << s;
}
#endif

}  // namespace
}  // namespace pdserve::decoder
