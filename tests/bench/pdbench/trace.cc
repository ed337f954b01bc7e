// Trace parsing, scaling, hit-ratio ceiling and arrival schedules (see trace.h).
#include "tests/bench/pdbench/trace.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <unordered_set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace pdserve::bench {
namespace {

// SplitMix64 finalizer: a fixed, portable mixing function.
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

absl::Status ReadInt(const nlohmann::json& j, const char* key, size_t line, int64_t* out) {
  if (!j.contains(key) || !j[key].is_number_integer()) {
    return absl::InvalidArgumentError(
        absl::StrCat("trace line ", line, ": '", key, "' is missing or not an integer"));
  }
  *out = j[key].get<int64_t>();
  if (*out < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("trace line ", line, ": '", key, "' is negative (", *out, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<TraceRequest>> ParseTrace(std::istream& in, size_t limit) {
  std::vector<TraceRequest> out;
  std::string text;
  size_t line = 0;
  while ((limit == 0 || out.size() < limit) && std::getline(in, text)) {
    ++line;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat("trace line ", line, ": not a JSON object"));
    }
    TraceRequest r;
    for (auto [key, field] : {std::pair{"timestamp", &r.timestamp_ms},
                              std::pair{"input_length", &r.input_length},
                              std::pair{"output_length", &r.output_length}}) {
      if (absl::Status s = ReadInt(j, key, line, field); !s.ok()) return s;
    }
    if (!j.contains("hash_ids") || !j["hash_ids"].is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat("trace line ", line, ": 'hash_ids' is missing or not an array"));
    }
    for (const nlohmann::json& id : j["hash_ids"]) {
      if (!id.is_number_integer()) {
        return absl::InvalidArgumentError(
            absl::StrCat("trace line ", line, ": 'hash_ids' holds a non-integer ", id.dump()));
      }
      r.hash_ids.push_back(id.get<int64_t>());
    }
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<std::vector<TraceRequest>> LoadTrace(const std::string& path, size_t limit) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("--trace: cannot read '", path, "'"));
  return ParseTrace(in, limit);
}

int ScaledBlockTokens(const ScaleOptions& options) {
  return std::max(1, kTraceBlockTokens / std::max(1, options.scale));
}

std::vector<int32_t> BlockTokens(int64_t hash_id, int block_tokens, int vocab) {
  std::vector<int32_t> tokens(block_tokens);
  const uint64_t range = static_cast<uint64_t>(vocab - kFirstTokenId);
  const uint64_t base = Mix(static_cast<uint64_t>(hash_id));
  for (int k = 0; k < block_tokens; ++k) {
    tokens[k] = kFirstTokenId + static_cast<int32_t>(Mix(base + k) % range);
  }
  return tokens;
}

namespace {

int64_t ScaledPromptLength(const TraceRequest& r, const ScaleOptions& o, int block_tokens) {
  int64_t len = (r.input_length + o.scale - 1) / o.scale;
  if (o.max_prompt > 0) len = std::min<int64_t>(len, o.max_prompt);
  return std::clamp<int64_t>(len, 1, static_cast<int64_t>(r.hash_ids.size()) * block_tokens);
}

}  // namespace

absl::StatusOr<ScaledRequest> ScaleRequest(const TraceRequest& request,
                                           const ScaleOptions& options) {
  if (options.scale < 1 || options.vocab <= kFirstTokenId || options.max_output < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "scale options out of range: scale=", options.scale, " vocab=", options.vocab,
        " max_output=", options.max_output));
  }
  if (request.hash_ids.empty()) {
    return absl::InvalidArgumentError("trace request has no hash_ids");
  }
  const int block_tokens = ScaledBlockTokens(options);
  const int64_t length = ScaledPromptLength(request, options, block_tokens);
  ScaledRequest out;
  out.prompt.reserve(length);
  for (int64_t id : request.hash_ids) {
    if (static_cast<int64_t>(out.prompt.size()) >= length) break;
    const std::vector<int32_t> block = BlockTokens(id, block_tokens, options.vocab);
    const size_t take = std::min<size_t>(block.size(), length - out.prompt.size());
    out.prompt.insert(out.prompt.end(), block.begin(), block.begin() + take);
  }
  const int64_t output = std::llround(static_cast<double>(request.output_length) / options.scale);
  out.output_tokens = static_cast<int32_t>(std::clamp<int64_t>(output, 1, options.max_output));
  return out;
}

double HitCeiling::block_ratio() const {
  return blocks_total == 0 ? 0 : static_cast<double>(blocks_seen_before) / blocks_total;
}

double HitCeiling::token_ratio() const {
  return tokens_total == 0 ? 0 : static_cast<double>(tokens_seen_before) / tokens_total;
}

HitCeiling ComputeHitCeiling(const std::vector<TraceRequest>& requests,
                             const ScaleOptions& options) {
  HitCeiling c;
  const int block_tokens = ScaledBlockTokens(options);
  std::unordered_set<int64_t> seen;
  for (const TraceRequest& r : requests) {
    if (r.hash_ids.empty()) continue;
    const int64_t length = ScaledPromptLength(r, options, block_tokens);
    c.tokens_total += length;
    bool prefix_hit = true;
    int64_t position = 0;
    for (int64_t id : r.hash_ids) {
      const int64_t tokens = std::min<int64_t>(block_tokens, length - position);
      if (tokens <= 0) break;
      ++c.blocks_total;
      prefix_hit = prefix_hit && seen.count(id) > 0;
      if (prefix_hit) {
        ++c.blocks_seen_before;
        c.tokens_seen_before += tokens;
      }
      position += tokens;
    }
    // Inserted after the request: a request cannot hit on its own blocks.
    for (int64_t id : r.hash_ids) seen.insert(id);
  }
  return c;
}

std::vector<absl::Duration> ArrivalOffsets(const std::vector<TraceRequest>& requests, double rate,
                                           double time_scale, uint64_t seed) {
  std::vector<absl::Duration> out;
  out.reserve(requests.size());
  if (rate > 0) {
    std::mt19937_64 gen(seed);
    std::exponential_distribution<double> gap(rate);
    double t = 0;
    for (size_t i = 0; i < requests.size(); ++i) {
      out.push_back(absl::Seconds(t));
      t += gap(gen);
    }
    return out;
  }
  const int64_t first = requests.empty() ? 0 : requests.front().timestamp_ms;
  for (const TraceRequest& r : requests) {
    out.push_back(absl::Milliseconds(static_cast<double>(r.timestamp_ms - first) / time_scale));
  }
  return out;
}

}  // namespace pdserve::bench
