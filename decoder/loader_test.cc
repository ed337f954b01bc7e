// Loading Hugging Face directories: dtypes, sharding, and every bad-file case.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/match.h"
#include "decoder/model.h"
#include "decoder/safetensors.h"
#include "decoder/test_util.h"
#include "gtest/gtest.h"

namespace pdserve::decoder {
namespace {

using testing::SafetensorsBytes;
using testing::TempDir;
using testing::TestTensor;
using testing::WriteFile;
using testing::WriteModelDir;

const ModelConfig kConfig = testing::SmallConfig(4, 2, false);

std::vector<float> LastLogits(const Model& m) {
  const std::vector<int32_t> tokens = {1, 5, 200, 33, 7, 7, 100, 299};
  std::vector<float> kv(tokens.size() * m.kv_layout().TokenFloats()), logits(m.config().vocab_size);
  EXPECT_TRUE(m.Prefill({}, tokens, absl::MakeSpan(kv), [](int) {}, absl::MakeSpan(logits)).ok());
  return logits;
}

std::unique_ptr<Model> LoadOk(const std::string& dir) {
  auto m = Model::Load(dir);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? std::move(*m) : nullptr;
}

// Rounds to bf16 and flushes values below f16's normal range so F32, F16 and BF16 hold them exactly.
std::vector<TestTensor> ExactInAllDtypes(std::vector<TestTensor> tensors) {
  for (TestTensor& t : tensors) {
    for (float& v : t.values) {
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      bits &= 0xFFFF0000u;
      std::memcpy(&v, &bits, 4);
      if (std::abs(v) < 1.0f / 16384) v = 0.0f;
    }
  }
  return tensors;
}

TEST(LoaderTest, DtypesGiveTheSameModel) {
  const auto exact = ExactInAllDtypes(testing::SyntheticTensors(kConfig));
  std::vector<std::vector<float>> logits;
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    TempDir dir;
    WriteModelDir(dir.path(), kConfig, exact, dtype, 1);
    auto m = LoadOk(dir.path());
    ASSERT_NE(m, nullptr);
    logits.push_back(LastLogits(*m));
  }
  EXPECT_EQ(logits[0], logits[1]);
  EXPECT_EQ(logits[0], logits[2]);
}

TEST(LoaderTest, DtypesAgreeToTheirPrecision) {
  const auto tensors = testing::SyntheticTensors(kConfig);
  std::vector<std::vector<float>> logits;
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    TempDir dir;
    WriteModelDir(dir.path(), kConfig, tensors, dtype, 1);
    auto m = LoadOk(dir.path());
    ASSERT_NE(m, nullptr);
    logits.push_back(LastLogits(*m));
  }
  double max_abs = 0;
  for (float v : logits[0]) max_abs = std::max(max_abs, double{std::abs(v)});
  for (size_t i = 0; i < logits[0].size(); ++i) {
    EXPECT_NEAR(logits[1][i], logits[0][i], 5e-3 * max_abs);  // f16: 11-bit mantissa
    EXPECT_NEAR(logits[2][i], logits[0][i], 5e-2 * max_abs);  // bf16: 8-bit mantissa
  }
}

TEST(LoaderTest, ShardedEqualsUnsharded) {
  const auto tensors = testing::SyntheticTensors(kConfig);
  TempDir one, three;
  WriteModelDir(one.path(), kConfig, tensors, DType::kF32, 1);
  WriteModelDir(three.path(), kConfig, tensors, DType::kF32, 3);
  ASSERT_TRUE(std::filesystem::exists(three.path() + "/model-00002-of-00003.safetensors"));
  auto a = LoadOk(one.path());
  auto b = LoadOk(three.path());
  ASSERT_TRUE(a && b);
  EXPECT_EQ(LastLogits(*a), LastLogits(*b));
  EXPECT_TRUE(absl::StrContains(a->name(), "@"));
}

TEST(LoaderTest, NameFingerprintsTheWeights) {
  auto tensors = testing::SyntheticTensors(kConfig);
  TempDir a, b;
  WriteModelDir(a.path(), kConfig, tensors, DType::kF32, 1);
  tensors[0].values[0] += 1.0f;
  WriteModelDir(b.path(), kConfig, tensors, DType::kF32, 1);
  auto ma = LoadOk(a.path()), mb = LoadOk(b.path());
  ASSERT_TRUE(ma && mb);
  EXPECT_NE(ma->name().substr(ma->name().find('@')), mb->name().substr(mb->name().find('@')));
}

// Each bad-file case: the status code and the file/tensor named in the message.
class BadFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tensors_ = testing::SyntheticTensors(kConfig);
    WriteModelDir(dir_.path(), kConfig, tensors_, DType::kF32, 1);
  }
  absl::Status Load() { return Model::Load(dir_.path()).status(); }
  void ExpectError(absl::StatusCode code, std::initializer_list<std::string> words) {
    const absl::Status s = Load();
    EXPECT_EQ(s.code(), code) << s;
    for (const std::string& w : words) EXPECT_TRUE(absl::StrContains(s.message(), w)) << s << " lacks " << w;
  }
  std::string Path(const std::string& f) const { return dir_.path() + "/" + f; }
  void WriteModel(const std::string& bytes) { WriteFile(Path("model.safetensors"), bytes); }
  std::string ValidBytes() const { return SafetensorsBytes(tensors_, DType::kF32); }

  TempDir dir_;
  std::vector<TestTensor> tensors_;
};

TEST_F(BadFileTest, ValidDirectoryLoads) { EXPECT_TRUE(Load().ok()); }

TEST_F(BadFileTest, MissingConfig) {
  std::filesystem::remove(Path("config.json"));
  ExpectError(absl::StatusCode::kNotFound, {"config.json"});
}

TEST_F(BadFileTest, MissingWeights) {
  std::filesystem::remove(Path("model.safetensors"));
  ExpectError(absl::StatusCode::kNotFound, {"model.safetensors"});
}

TEST_F(BadFileTest, MissingShard) {
  TempDir sharded;
  WriteModelDir(sharded.path(), kConfig, tensors_, DType::kF32, 2);
  std::filesystem::remove(sharded.path() + "/model-00002-of-00002.safetensors");
  const absl::Status s = Model::Load(sharded.path()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "model-00002-of-00002.safetensors")) << s;
}

TEST_F(BadFileTest, BadConfigJson) {
  WriteFile(Path("config.json"), "{\"vocab_size\": 12,");
  ExpectError(absl::StatusCode::kInvalidArgument, {"config.json", "JSON"});
}

TEST_F(BadFileTest, BadIndexJson) {
  WriteFile(Path("model.safetensors.index.json"), "[1, 2");
  ExpectError(absl::StatusCode::kInvalidArgument, {"model.safetensors.index.json"});
}

TEST_F(BadFileTest, BadHeaderJson) {
  const std::string h = "{\"a\": [1,";
  std::string bytes(8, '\0');
  const uint64_t len = h.size();
  std::memcpy(bytes.data(), &len, 8);
  WriteModel(bytes + h);
  ExpectError(absl::StatusCode::kDataLoss, {"model.safetensors", "JSON"});
}

TEST_F(BadFileTest, TruncatedBelowHeaderLength) {
  WriteModel("abc");
  ExpectError(absl::StatusCode::kDataLoss, {"model.safetensors", "truncated"});
}

TEST_F(BadFileTest, TruncatedData) {
  const std::string bytes = ValidBytes();
  WriteModel(bytes.substr(0, bytes.size() - 100));
  ExpectError(absl::StatusCode::kDataLoss, {"model.safetensors", "lm_head.weight", "truncated"});
}

TEST_F(BadFileTest, HeaderLengthPastTheEnd) {
  std::string bytes = ValidBytes();
  const uint64_t len = bytes.size();
  std::memcpy(bytes.data(), &len, 8);
  WriteModel(bytes);
  ExpectError(absl::StatusCode::kDataLoss, {"model.safetensors", "header length"});
}

TEST_F(BadFileTest, UnknownDtype) {
  std::string bytes = ValidBytes();
  const size_t at = bytes.find("\"F32\"");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 5, "\"I32\"");
  WriteModel(bytes);
  ExpectError(absl::StatusCode::kInvalidArgument, {"model.safetensors", "I32"});
}

TEST_F(BadFileTest, MissingTensor) {
  auto fewer = tensors_;
  fewer.erase(fewer.begin() + 5);
  const std::string missing = tensors_[5].name;
  WriteModel(SafetensorsBytes(fewer, DType::kF32));
  ExpectError(absl::StatusCode::kNotFound, {missing, "model.safetensors"});
}

TEST_F(BadFileTest, WrongShape) {
  auto wrong = tensors_;
  wrong[3].shape = {wrong[3].shape[1], wrong[3].shape[0]};
  WriteModel(SafetensorsBytes(wrong, DType::kF32));
  ExpectError(absl::StatusCode::kInvalidArgument, {wrong[3].name, "shape"});
}

TEST_F(BadFileTest, HeadsNotDivisibleByKvHeads) {
  ModelConfig c = kConfig;
  c.num_kv_heads = 3;
  WriteFile(Path("config.json"), testing::ConfigJson(c));
  ExpectError(absl::StatusCode::kInvalidArgument,
              {"config.json", "num_attention_heads", "num_key_value_heads"});
}

TEST(SafetensorsTest, ConvertsHalfPrecision) {
  const uint8_t f16_one_half[2] = {0x00, 0x38};   // 0.5
  const uint8_t bf16_minus_two[2] = {0x00, 0xC0};  // -2.0
  float out;
  ConvertToF32(DType::kF16, f16_one_half, 1, &out);
  EXPECT_EQ(out, 0.5f);
  ConvertToF32(DType::kBF16, bf16_minus_two, 1, &out);
  EXPECT_EQ(out, -2.0f);
}

}  // namespace
}  // namespace pdserve::decoder
