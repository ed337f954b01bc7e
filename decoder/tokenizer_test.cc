// Tests of the byte-level and SentencePiece tokenizers.
#include "decoder/tokenizer.h"

#include "decoder/model.h"
#include "decoder/synthetic.h"
#include "decoder/test_util.h"
#include "gtest/gtest.h"

namespace pdserve::decoder {
namespace {

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
  testing::TempDir dir;
  std::string text;
  for (int i = 0; i < 50; ++i) text += "the quick brown fox jumps over the lazy dog\nhello world\n";
  std::string error;
  ASSERT_TRUE(testing::TrainSentencePiece(dir.path(), text, 300, &error)) << error;
  ModelConfig c = testing::SmallConfig(4, 2, false);
  c.vocab_size = 300;
  auto tok = Tokenizer::Create(dir.path(), c);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->kind(), "sentencepiece");
  auto ids = (*tok)->Encode("hello world, the fox");
  ASSERT_TRUE(ids.ok());
  EXPECT_LT(ids->size(), 20u);
  for (int32_t id : *ids) EXPECT_LT(id, 300);
  EXPECT_EQ((*tok)->Decode(*ids), "hello world, the fox");
  // A vocabulary too small for the tokenizer is rejected.
  c.vocab_size = 100;
  EXPECT_EQ(Tokenizer::Create(dir.path(), c).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TokenizerTest, CorruptTokenizerModelIsDataLoss) {
  testing::TempDir dir;
  testing::WriteFile(dir.path() + "/tokenizer.model", "not a model");
  const absl::Status s = Tokenizer::Create(dir.path(), testing::SmallConfig(4, 2, false)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

}  // namespace
}  // namespace pdserve::decoder
