// Parsing and validation of Llama hyperparameters.
#include "decoder/config.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "decoder/status_macros.h"
#include "nlohmann/json.hpp"

namespace pdserve::decoder {
namespace {

using Json = nlohmann::json;

absl::Status FieldError(absl::string_view source, absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": field '", field, "' ", what));
}

// Reads an integer field into `out`. Missing: keeps `out` unless `required`.
absl::Status ReadInt(const Json& j, absl::string_view source, const char* field, bool required,
                     int* out) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) {
    if (required) return FieldError(source, field, "is missing");
    return absl::OkStatus();
  }
  if (!it->is_number_integer()) return FieldError(source, field, "must be an integer");
  int64_t v = it->get<int64_t>();
  if (v < INT32_MIN || v > INT32_MAX) {
    return FieldError(source, field, absl::StrCat("is out of range: ", v));
  }
  *out = static_cast<int>(v);
  return absl::OkStatus();
}

absl::Status ReadDouble(const Json& j, absl::string_view source, const char* field, double* out) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_number()) return FieldError(source, field, "must be a number");
  *out = it->get<double>();
  return absl::OkStatus();
}

absl::Status ParseRopeScaling(const Json& j, absl::string_view source, RopeScaling* out) {
  auto it = j.find("rope_scaling");
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object()) return FieldError(source, "rope_scaling", "must be an object or null");
  const Json& rs = *it;
  std::string kind = "default";
  for (const char* key : {"rope_type", "type"}) {
    auto k = rs.find(key);
    if (k != rs.end() && k->is_string()) {
      kind = k->get<std::string>();
      break;
    }
  }
  if (kind != "default" && kind != "linear" && kind != "llama3") {
    return absl::UnimplementedError(
        absl::StrCat(source, ": field 'rope_scaling.rope_type' = '", kind,
                     "' is not supported (default, linear, llama3)"));
  }
  out->kind = kind;
  PDSERVE_RETURN_IF_ERROR(ReadDouble(rs, source, "factor", &out->factor));
  PDSERVE_RETURN_IF_ERROR(ReadDouble(rs, source, "low_freq_factor", &out->low_freq_factor));
  PDSERVE_RETURN_IF_ERROR(ReadDouble(rs, source, "high_freq_factor", &out->high_freq_factor));
  PDSERVE_RETURN_IF_ERROR(ReadInt(rs, source, "original_max_position_embeddings", false,
                                  &out->original_max_position_embeddings));
  if (!(out->factor > 0)) {
    return FieldError(source, "rope_scaling.factor", absl::StrCat("must be > 0, got ", out->factor));
  }
  return absl::OkStatus();
}

absl::Status CheckPositive(const char* field, int64_t value) {
  if (value <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("config field '", field, "' must be > 0, got ", value));
  }
  return absl::OkStatus();
}

}  // namespace

int64_t ModelConfig::NumParameters() const {
  const int64_t h = hidden_size;
  const int64_t q = int64_t{num_heads} * head_dim;
  const int64_t kv = int64_t{num_kv_heads} * head_dim;
  const int64_t per_layer = h * (q + 2 * kv) + q * h + 3 * h * intermediate_size + 2 * h;
  return int64_t{vocab_size} * h * (tie_word_embeddings ? 1 : 2) + num_layers * per_layer + h;
}

absl::Status ValidateConfig(const ModelConfig& c) {
  PDSERVE_RETURN_IF_ERROR(CheckPositive("vocab_size", c.vocab_size));
  PDSERVE_RETURN_IF_ERROR(CheckPositive("hidden_size", c.hidden_size));
  PDSERVE_RETURN_IF_ERROR(CheckPositive("intermediate_size", c.intermediate_size));
  PDSERVE_RETURN_IF_ERROR(CheckPositive("num_hidden_layers", c.num_layers));
  PDSERVE_RETURN_IF_ERROR(CheckPositive("num_attention_heads", c.num_heads));
  PDSERVE_RETURN_IF_ERROR(CheckPositive("num_key_value_heads", c.num_kv_heads));
  PDSERVE_RETURN_IF_ERROR(CheckPositive("head_dim", c.head_dim));
  PDSERVE_RETURN_IF_ERROR(CheckPositive("max_position_embeddings", c.max_position_embeddings));
  if (c.num_heads % c.num_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config: num_attention_heads (", c.num_heads, ") is not divisible by num_key_value_heads (",
        c.num_kv_heads, ")"));
  }
  if (c.head_dim % 8 != 0 || c.head_dim > 256) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config: head_dim (", c.head_dim, ") must be a multiple of 8 and at most 256"));
  }
  if (!(c.rms_norm_eps > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("config: rms_norm_eps must be > 0, got ", c.rms_norm_eps));
  }
  if (!(c.rope_theta > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("config: rope_theta must be > 0, got ", c.rope_theta));
  }
  if (c.bos_token_id >= c.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat("config: bos_token_id (", c.bos_token_id,
                                                   ") is outside vocab_size ", c.vocab_size));
  }
  for (int32_t id : c.eos_token_ids) {
    if (id < 0 || id >= c.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("config: eos_token_id (", id,
                                                     ") is outside vocab_size ", c.vocab_size));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> ParseConfigJson(absl::string_view json_text, absl::string_view source) {
  Json j = Json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(source, ": invalid JSON"));
  if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(source, ": not a JSON object"));
  ModelConfig c;
  PDSERVE_RETURN_IF_ERROR(ReadInt(j, source, "vocab_size", true, &c.vocab_size));
  PDSERVE_RETURN_IF_ERROR(ReadInt(j, source, "hidden_size", true, &c.hidden_size));
  PDSERVE_RETURN_IF_ERROR(ReadInt(j, source, "intermediate_size", true, &c.intermediate_size));
  PDSERVE_RETURN_IF_ERROR(ReadInt(j, source, "num_hidden_layers", true, &c.num_layers));
  PDSERVE_RETURN_IF_ERROR(ReadInt(j, source, "num_attention_heads", true, &c.num_heads));
  c.num_kv_heads = c.num_heads;
  PDSERVE_RETURN_IF_ERROR(ReadInt(j, source, "num_key_value_heads", false, &c.num_kv_heads));
  c.max_position_embeddings = 2048;
  PDSERVE_RETURN_IF_ERROR(
      ReadInt(j, source, "max_position_embeddings", false, &c.max_position_embeddings));
  if (c.num_heads > 0) c.head_dim = c.hidden_size / c.num_heads;
  PDSERVE_RETURN_IF_ERROR(ReadInt(j, source, "head_dim", false, &c.head_dim));
  PDSERVE_RETURN_IF_ERROR(ReadDouble(j, source, "rms_norm_eps", &c.rms_norm_eps));
  PDSERVE_RETURN_IF_ERROR(ReadDouble(j, source, "rope_theta", &c.rope_theta));
  PDSERVE_RETURN_IF_ERROR(ParseRopeScaling(j, source, &c.rope_scaling));
  if (auto it = j.find("tie_word_embeddings"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) return FieldError(source, "tie_word_embeddings", "must be a boolean");
    c.tie_word_embeddings = it->get<bool>();
  }
  PDSERVE_RETURN_IF_ERROR(ReadInt(j, source, "bos_token_id", false, &c.bos_token_id));
  if (auto it = j.find("eos_token_id"); it != j.end() && !it->is_null()) {
    if (it->is_number_integer()) {
      c.eos_token_ids.push_back(it->get<int32_t>());
    } else if (it->is_array()) {
      for (const Json& e : *it) {
        if (!e.is_number_integer()) return FieldError(source, "eos_token_id", "must hold integers");
        c.eos_token_ids.push_back(e.get<int32_t>());
      }
    } else {
      return FieldError(source, "eos_token_id", "must be an integer or a list of integers");
    }
  }
  if (auto it = j.find("hidden_act"); it != j.end() && it->is_string() &&
                                       it->get<std::string>() != "silu") {
    return absl::UnimplementedError(absl::StrCat(source, ": field 'hidden_act' = '",
                                                 it->get<std::string>(), "' is not supported (silu)"));
  }
  absl::Status s = ValidateConfig(c);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat(source, ": ", s.message()));
  return c;
}

}  // namespace pdserve::decoder
