// Model facts from the decoder's config parsers (no weights are read).
#include "services/router/model_info.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "decoder/config.h"
#include "decoder/synthetic.h"
#include "services/common/status_macros.h"

namespace pdserve::router {

bool ModelInfo::IsEos(int32_t token) const {
  return std::find(eos_token_ids.begin(), eos_token_ids.end(), token) != eos_token_ids.end();
}

absl::StatusOr<ModelInfo> LoadModelInfo(absl::string_view dir_or_name) {
  decoder::ModelConfig config;
  if (decoder::IsSyntheticName(dir_or_name)) {
    PDSERVE_ASSIGN_OR_RETURN(config, decoder::SyntheticConfig(dir_or_name));
  } else {
    const std::string path = absl::StrCat(dir_or_name, "/config.json");
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat("model: ", path, " not found"));
    std::stringstream text;
    text << in.rdbuf();
    PDSERVE_ASSIGN_OR_RETURN(config, decoder::ParseConfigJson(text.str(), path));
  }
  ModelInfo info;
  info.name = std::string(dir_or_name);
  info.vocab_size = config.vocab_size;
  info.max_positions = config.max_position_embeddings;
  info.eos_token_ids = config.eos_token_ids;
  PDSERVE_ASSIGN_OR_RETURN(
      std::unique_ptr<decoder::Tokenizer> tokenizer,
      decoder::Tokenizer::Create(std::string_view(dir_or_name.data(), dir_or_name.size()),
                                 config));
  info.tokenizer = std::move(tokenizer);
  return info;
}

}  // namespace pdserve::router
