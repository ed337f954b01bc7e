// Prefill over the cache manager.
#include "services/prefill/prefill_core.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "decoder/status_macros.h"
#include "services/common/model_name.h"

namespace pdserve::prefill {

absl::StatusOr<std::vector<int32_t>> PrefillCore::PromptTokens(const PrefillInput& input) const {
  const decoder::Model& model = *options_.model;
  PDSERVE_RETURN_IF_ERROR(
      common::CheckServedModel(input.model, model.name(), options_.model_aliases));
  const bool has_ids = !input.prompt_token_ids.empty();
  if (input.has_text && has_ids) {
    return absl::InvalidArgumentError("prompt_text and prompt_token_ids: give exactly one");
  }
  std::vector<int32_t> tokens;
  if (input.has_text) {
    if (input.prompt_text.empty()) return absl::InvalidArgumentError("prompt_text: empty");
    PDSERVE_ASSIGN_OR_RETURN(tokens, options_.tokenizer->Encode(input.prompt_text));
  } else {
    tokens = input.prompt_token_ids;
  }
  if (tokens.empty()) return absl::InvalidArgumentError("prompt: empty (no prompt_text or ids)");
  const int vocab = model.config().vocab_size;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat("prompt_token_ids[", i, "]: ", tokens[i],
                                                     " outside the vocabulary [0, ", vocab, ")"));
    }
  }
  const int max_positions = model.config().max_position_embeddings;
  if (static_cast<int64_t>(tokens.size()) >= max_positions) {
    return absl::InvalidArgumentError(absl::StrCat("prompt: ", tokens.size(),
                                                   " tokens leave no room in the model's context of ",
                                                   max_positions, " positions"));
  }
  if (input.resume_generated >= tokens.size()) {
    return absl::InvalidArgumentError(absl::StrCat("resume_generated: ", input.resume_generated,
                                                   " must be below the prompt's ", tokens.size(),
                                                   " tokens"));
  }
  PDSERVE_RETURN_IF_ERROR(decoder::Validate(input.sampling));
  return tokens;
}

absl::StatusOr<PrefillOutput> PrefillCore::Run(const PrefillInput& input) const {
  PDSERVE_ASSIGN_OR_RETURN(std::vector<int32_t> tokens, PromptTokens(input));
  const decoder::Model& model = *options_.model;
  PDSERVE_ASSIGN_OR_RETURN(
      kvclient::CreatedSequence created,
      options_.cache->CreateSequence(model.name(), model.kv_layout(), tokens, input.lease_ttl));
  absl::StatusOr<PrefillOutput> output = RunOnSequence(tokens, input, created);
  if (!output.ok()) options_.cache->Release(created.sequence_id).IgnoreError();
  return output;
}

absl::StatusOr<PrefillOutput> PrefillCore::RunOnSequence(const std::vector<int32_t>& tokens,
                                                         const PrefillInput& input,
                                                         const kvclient::CreatedSequence& created) const {
  const decoder::Model& model = *options_.model;
  const decoder::KvLayout layout = model.kv_layout();
  const uint64_t cached = created.cached_tokens;
  if (cached >= tokens.size()) {
    return absl::InternalError(absl::StrCat("cache manager reported ", cached,
                                            " cached tokens of a ", tokens.size(),
                                            "-token prompt; at least one must be computed"));
  }
  PrefillOutput out;
  out.sequence_id = created.sequence_id;
  out.prompt_tokens = static_cast<uint32_t>(tokens.size());
  out.reused_tokens = static_cast<uint32_t>(cached);
  out.report.reused_tokens = out.reused_tokens;

  // The cached prefix's K/V, read back block by block and attended to in place.
  kvclient::ReadResult prefix;
  std::vector<decoder::KvSpan> past;
  if (cached > 0) {
    absl::Time t0 = absl::Now();
    PDSERVE_ASSIGN_OR_RETURN(prefix, options_.cache->Read(created.sequence_id, 0, {}, layout, nullptr));
    out.report.prefix_read_us = common::Micros(absl::Now() - t0);
    out.report.kv_bytes_read = prefix.bytes;
    uint64_t covered = 0;
    for (const kvclient::KvBlock& block : prefix.blocks) {
      if (block.first_token != covered) {
        return absl::DataLossError(absl::StrCat("cache manager: prefix block ", block.index,
                                                " starts at token ", block.first_token,
                                                ", expected ", covered));
      }
      past.push_back({block.data->data(), block.num_tokens});
      covered += block.num_tokens;
    }
    if (covered != cached) {
      return absl::DataLossError(absl::StrCat("cache manager: prefix read returned ", covered,
                                              " tokens, create reported ", cached));
    }
  }

  const absl::Span<const int32_t> fresh = absl::MakeConstSpan(tokens).subspan(cached);
  std::vector<float> kv(fresh.size() * layout.TokenFloats());
  std::vector<float> logits(model.config().vocab_size);
  PDSERVE_ASSIGN_OR_RETURN(
      std::unique_ptr<kvclient::PromptWriter> writer,
      options_.cache->BeginWrite(created.sequence_id, layout, cached, fresh.size()));
  absl::Time t0 = absl::Now();
  absl::Status computed = model.Prefill(
      past, fresh, absl::MakeSpan(kv), [&](int layer) { writer->WriteLayer(layer, kv.data()); },
      absl::MakeSpan(logits));
  absl::Time t1 = absl::Now();
  PDSERVE_RETURN_IF_ERROR(computed);
  PDSERVE_ASSIGN_OR_RETURN(uint64_t committed, writer->Commit());
  absl::Time t2 = absl::Now();
  if (committed != tokens.size()) {
    return absl::InternalError(absl::StrCat("cache manager committed ", committed,
                                            " tokens, expected ", tokens.size()));
  }
  out.report.prefill_compute_us = common::Micros(t1 - t0);
  out.report.kv_write_us = common::Micros(t2 - t1);
  out.report.kv_bytes_written = writer->bytes_sent();

  decoder::Sampler sampler(input.sampling);
  out.first_token_id = sampler.SampleAt(logits, input.resume_generated);
  out.first_text = options_.tokenizer->Decode({out.first_token_id});
  return out;
}

}  // namespace pdserve::prefill
