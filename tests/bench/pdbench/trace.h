// Conversation traces in the Mooncake FAST'25 format (one JSON object a line: timestamp in ms,
// input_length, output_length, hash_ids of 512-token prefix blocks), scaled down for replay:
// deterministic prompt tokens from hash_ids, arrival schedules, and the prefix-cache hit-ratio
// ceiling of the scaled trace.
#ifndef PDSERVE_TESTS_BENCH_PDBENCH_TRACE_H_
#define PDSERVE_TESTS_BENCH_PDBENCH_TRACE_H_

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace pdserve::bench {

inline constexpr int kTraceBlockTokens = 512;  // tokens per hash_id block in the trace

struct TraceRequest {
  int64_t timestamp_ms = 0;
  int64_t input_length = 0;
  int64_t output_length = 0;
  std::vector<int64_t> hash_ids;
};

// Reads at most `limit` requests (0 = all). INVALID_ARGUMENT names the line and the field.
absl::StatusOr<std::vector<TraceRequest>> ParseTrace(std::istream& in, size_t limit);
absl::StatusOr<std::vector<TraceRequest>> LoadTrace(const std::string& path, size_t limit);

struct ScaleOptions {
  int scale = 32;        // lengths divided by this; one trace block -> 512/scale tokens
  int vocab = 512;       // token ids are drawn from [kFirstTokenId, vocab)
  int max_output = 64;   // cap on the scaled output length
  int max_prompt = 0;    // cap on the scaled prompt length (the model's context); 0 = none
};

inline constexpr int kFirstTokenId = 3;  // ids 0..2 are usually special (pad/bos/eos)

// Tokens per scaled block: 512 / scale (at least 1).
int ScaledBlockTokens(const ScaleOptions& options);

// The `block_tokens` token ids standing for trace block `hash_id`: a pure function of its
// arguments, so equal ids give equal tokens. Every id is in [kFirstTokenId, vocab).
std::vector<int32_t> BlockTokens(int64_t hash_id, int block_tokens, int vocab);

struct ScaledRequest {
  std::vector<int32_t> prompt;  // ceil(input_length / scale) tokens, at least 1, at most
                                // max_prompt (when set)
  int32_t output_tokens = 1;    // round(output_length / scale), in [1, max_output]
};

// INVALID_ARGUMENT if options are out of range (scale < 1, vocab <= kFirstTokenId,
// max_output < 1) or the request has no hash_ids.
absl::StatusOr<ScaledRequest> ScaleRequest(const TraceRequest& request,
                                           const ScaleOptions& options);

// The best prefix-cache hit ratio any cache could reach on the scaled trace: an unbounded cache
// that keeps every block, requests taken in order. A request reuses its leading blocks whose
// hash_ids appeared in an earlier request (a prefix cache can use nothing past the first miss).
struct HitCeiling {
  int64_t blocks_total = 0;
  int64_t blocks_seen_before = 0;
  int64_t tokens_total = 0;       // scaled prompt tokens
  int64_t tokens_seen_before = 0; // scaled prompt tokens in reusable blocks
  double block_ratio() const;
  double token_ratio() const;     // comparable to reused_tokens / prompt_tokens
};
HitCeiling ComputeHitCeiling(const std::vector<TraceRequest>& requests,
                             const ScaleOptions& options);

// Send offsets from the start of the replay. With rate > 0, Poisson arrivals at `rate` requests
// per second (exponential gaps from a generator seeded with `seed`); otherwise the trace's own
// timestamps, relative to the first, divided by `time_scale` (> 0; 2 = twice as fast).
std::vector<absl::Duration> ArrivalOffsets(const std::vector<TraceRequest>& requests, double rate,
                                           double time_scale, uint64_t seed);

}  // namespace pdserve::bench

#endif  // PDSERVE_TESTS_BENCH_PDBENCH_TRACE_H_
