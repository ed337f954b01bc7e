// Test helpers: temp dirs, crafted safetensors files and HF model directories.
#ifndef PDSERVE_DECODER_TEST_UTIL_H_
#define PDSERVE_DECODER_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "decoder/config.h"
#include "decoder/safetensors.h"

namespace pdserve::decoder::testing {

// A fresh directory under $TEST_TMPDIR or /tmp, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct TestTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;  // converted to the file's dtype on write
};

// Serializes tensors (all in `dtype`) as safetensors bytes.
std::string SafetensorsBytes(const std::vector<TestTensor>& tensors, DType dtype);
void WriteFile(const std::string& path, const std::string& contents);

// config.json text for `config`.
std::string ConfigJson(const ModelConfig& config);

// All HF tensors of `config` with SyntheticTensor values.
std::vector<TestTensor> SyntheticTensors(const ModelConfig& config);

// Writes config.json and the tensors as model.safetensors (num_shards == 1) or as
// model-0000i-of-0000n.safetensors shards plus model.safetensors.index.json.
void WriteModelDir(const std::string& dir, const ModelConfig& config,
                   const std::vector<TestTensor>& tensors, DType dtype, int num_shards);

// A small config (2 layers, hidden 32, head_dim 8) with the given head counts.
ModelConfig SmallConfig(int num_heads, int num_kv_heads, bool tied);

// Writes <dir>/tokenizer.model: a SentencePiece BPE model with <unk> <s> </s>, 256 byte-fallback
// pieces and SentencePieceTestPieces() (ids 259..), 281 pieces in all.
void WriteSentencePieceModel(const std::string& dir);
std::vector<std::string> SentencePieceTestPieces();

}  // namespace pdserve::decoder::testing

#endif  // PDSERVE_DECODER_TEST_UTIL_H_
