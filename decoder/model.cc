// Model loading and argument validation around the shared forward pass.
#include "decoder/model.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "decoder/forward.h"
#include "decoder/kernels.h"
#include "decoder/safetensors.h"
#include "decoder/status_macros.h"
#include "decoder/synthetic.h"

namespace pdserve::decoder {
namespace {

using internal::ForwardRow;
using internal::ModelState;

int ResolveThreads(int requested) {
  if (requested > 0) return requested;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": file not found"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status CheckPast(KvView past, absl::string_view field) {
  for (size_t i = 0; i < past.size(); ++i) {
    if (past[i].num_tokens < 0 || (past[i].num_tokens > 0 && past[i].data == nullptr)) {
      return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "] is malformed: num_tokens ",
                                                     past[i].num_tokens, ", data ",
                                                     past[i].data == nullptr ? "null" : "set"));
    }
    if (past[i].block_capacity < 0 ||
        (past[i].block_capacity > 0 && past[i].num_tokens > past[i].block_capacity)) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, "[", i, "].block_capacity ", past[i].block_capacity, " with num_tokens ",
          past[i].num_tokens, ": a head-major block holds at most block_capacity tokens"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckToken(const ModelConfig& c, int32_t token, absl::string_view field) {
  if (token < 0 || token >= c.vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " = ", token, " is outside the vocabulary [0, ", c.vocab_size, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckPosition(const ModelConfig& c, int64_t position, absl::string_view field) {
  if (position >= c.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": position ", position,
                                                   " is past max_position_embeddings ",
                                                   c.max_position_embeddings));
  }
  return absl::OkStatus();
}

absl::Status CheckSize(absl::string_view field, size_t got, int64_t want) {
  if (static_cast<int64_t>(got) != want) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " has ", got, " floats, expected ", want));
  }
  return absl::OkStatus();
}

}  // namespace

Model::Model(std::unique_ptr<ModelState> state) : state_(std::move(state)) {}
Model::~Model() = default;

absl::StatusOr<std::unique_ptr<Model>> Model::Load(std::string_view dir_or_name,
                                                   const LoadOptions& options) {
  // Kernels that cannot be had (PDSERVE_KERNELS naming a family this CPU lacks) are refused here,
  // before any forward pass could abort on them.
  PDSERVE_RETURN_IF_ERROR(internal::InitKernels());
  const int threads = ResolveThreads(options.num_threads);
  if (IsSyntheticName(absl::string_view(dir_or_name.data(), dir_or_name.size()))) {
    PDSERVE_ASSIGN_OR_RETURN(ModelConfig config, SyntheticConfig(absl::string_view(dir_or_name.data(), dir_or_name.size())));
    auto source = [](const std::string& name,
                     absl::Span<const int64_t> shape) -> absl::StatusOr<std::vector<float>> {
      return SyntheticTensor(name, shape);
    };
    PDSERVE_ASSIGN_OR_RETURN(internal::ModelWeights weights,
                             internal::BuildWeights(config, source));
    return std::unique_ptr<Model>(new Model(std::make_unique<ModelState>(
        std::move(config), std::move(weights), std::string(dir_or_name), std::string(dir_or_name),
        threads)));
  }
  const std::string dir(dir_or_name);
  const std::string config_path = dir + "/config.json";
  PDSERVE_ASSIGN_OR_RETURN(std::string config_text, ReadFile(config_path));
  PDSERVE_ASSIGN_OR_RETURN(ModelConfig config, ParseConfigJson(config_text, config_path));
  PDSERVE_ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> ckpt, Checkpoint::Open(dir));
  auto source = [&](const std::string& name, absl::Span<const int64_t> shape) {
    return ckpt->ReadF32(name, shape);
  };
  PDSERVE_ASSIGN_OR_RETURN(internal::ModelWeights weights, internal::BuildWeights(config, source));
  std::error_code ec;
  std::string canonical = std::filesystem::canonical(dir, ec).string();
  if (ec) canonical = dir;
  const std::string name = absl::StrFormat("%s@%016x", canonical, ckpt->Fingerprint());
  return std::unique_ptr<Model>(new Model(
      std::make_unique<ModelState>(std::move(config), std::move(weights), name, dir, threads)));
}

const ModelConfig& Model::config() const { return state_->config; }

KvLayout Model::kv_layout() const {
  const ModelConfig& c = state_->config;
  return KvLayout{c.num_layers, c.num_kv_heads, c.head_dim};
}

const std::string& Model::name() const { return state_->name; }

const std::string& Model::directory() const { return state_->directory; }

int64_t Model::WeightBytesPerStep() const { return state_->weights.StepBytes(); }

absl::Status Model::Prefill(KvView past, absl::Span<const int32_t> tokens,
                            absl::Span<float> kv_out, absl::FunctionRef<void(int layer)> on_layer,
                            absl::Span<float> logits_out) const {
  const ModelConfig& c = state_->config;
  if (tokens.empty()) return absl::InvalidArgumentError("tokens is empty");
  PDSERVE_RETURN_IF_ERROR(CheckPast(past, "past"));
  const int64_t past_len = TotalTokens(past);
  const int64_t n = static_cast<int64_t>(tokens.size());
  for (int64_t i = 0; i < n; ++i) {
    PDSERVE_RETURN_IF_ERROR(CheckToken(c, tokens[i], absl::StrCat("tokens[", i, "]")));
  }
  PDSERVE_RETURN_IF_ERROR(
      CheckPosition(c, past_len + n - 1, absl::StrCat("tokens[", n - 1, "]")));
  const int64_t token_floats = kv_layout().TokenFloats();
  PDSERVE_RETURN_IF_ERROR(CheckSize("kv_out", kv_out.size(), n * token_floats));
  PDSERVE_RETURN_IF_ERROR(CheckSize("logits_out", logits_out.size(), c.vocab_size));

  std::vector<ForwardRow> rows(n);
  for (int64_t i = 0; i < n; ++i) {
    rows[i] = ForwardRow{tokens[i], past_len + i, {past, kv_out.data(), i + 1}};
  }
  const int64_t last = n - 1;
  internal::Forward(*state_, rows, kv_out.data(), on_layer, absl::MakeConstSpan(&last, 1),
                    logits_out.data());
  return absl::OkStatus();
}

absl::Status Model::DecodeStep(absl::Span<const DecodeItem> batch, absl::Span<float> kv_out,
                               absl::Span<float> logits_out) const {
  return DecodeStep(batch, kv_out, [](int) {}, logits_out);
}

absl::Status Model::DecodeStep(absl::Span<const DecodeItem> batch, absl::Span<float> kv_out,
                               absl::FunctionRef<void(int layer)> on_layer,
                               absl::Span<float> logits_out) const {
  const ModelConfig& c = state_->config;
  if (batch.empty()) return absl::InvalidArgumentError("batch is empty");
  const int64_t b = static_cast<int64_t>(batch.size());
  const int64_t token_floats = kv_layout().TokenFloats();
  PDSERVE_RETURN_IF_ERROR(CheckSize("kv_out", kv_out.size(), b * token_floats));
  PDSERVE_RETURN_IF_ERROR(CheckSize("logits_out", logits_out.size(), b * c.vocab_size));
  std::vector<ForwardRow> rows(b);
  std::vector<int64_t> logit_rows(b);
  for (int64_t i = 0; i < b; ++i) {
    const std::string field = absl::StrCat("batch[", i, "]");
    PDSERVE_RETURN_IF_ERROR(CheckToken(c, batch[i].token, field + ".token"));
    PDSERVE_RETURN_IF_ERROR(CheckPast(batch[i].past, field + ".past"));
    const int64_t position = TotalTokens(batch[i].past);
    PDSERVE_RETURN_IF_ERROR(CheckPosition(c, position, field));
    rows[i] = ForwardRow{batch[i].token, position,
                         {batch[i].past, kv_out.data() + i * token_floats, 1}};
    logit_rows[i] = i;
  }
  internal::Forward(*state_, rows, kv_out.data(), on_layer, logit_rows, logits_out.data());
  return absl::OkStatus();
}

}  // namespace pdserve::decoder
