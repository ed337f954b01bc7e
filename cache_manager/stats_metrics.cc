// Exposes CacheStats as Prometheus gauges.
#include "cache_manager/stats_metrics.h"

#include <memory>

namespace pdserve::cache_manager {

void RegisterStatsMetrics(const KvCacheManager* manager, common::MetricsRegistry* registry) {
  // One snapshot per scrape, shared by every gauge (the hook runs before rendering).
  auto snapshot = std::make_shared<CacheStats>();
  registry->AddCollectHook([manager, snapshot] { *snapshot = manager->Stats(); });
  struct Field {
    const char* name;
    const char* help;
    double (*get)(const CacheStats&);
  };
  static const Field kFields[] = {
      {"capacity_bytes", "Pool capacity", [](const CacheStats& s) { return double(s.capacity_bytes); }},
      {"used_bytes", "Bytes held by blocks in any state", [](const CacheStats& s) { return double(s.used_bytes); }},
      {"free_bytes", "Unallocated pool bytes", [](const CacheStats& s) { return double(s.free_bytes); }},
      {"valid_bytes", "Committed K/V bytes stored", [](const CacheStats& s) { return double(s.valid_bytes); }},
      {"overhead_bytes", "Metadata bytes beside the blocks", [](const CacheStats& s) { return double(s.overhead_bytes); }},
      {"blocks_partial", "Private growing blocks", [](const CacheStats& s) { return double(s.blocks_partial); }},
      {"blocks_in_flight", "Blocks reserved by uncommitted writes", [](const CacheStats& s) { return double(s.blocks_in_flight); }},
      {"blocks_pinned", "Full blocks referenced", [](const CacheStats& s) { return double(s.blocks_pinned); }},
      {"blocks_cached", "Full unreferenced evictable blocks", [](const CacheStats& s) { return double(s.blocks_cached); }},
      {"sequences", "Live sequences", [](const CacheStats& s) { return double(s.sequences); }},
      {"prefix_lookup_tokens", "Prompt tokens offered at create", [](const CacheStats& s) { return double(s.prefix_lookup_tokens); }},
      {"prefix_hit_tokens", "Prompt tokens attached from the cache", [](const CacheStats& s) { return double(s.prefix_hit_tokens); }},
      {"prefix_hit_ratio", "prefix_hit_tokens / prefix_lookup_tokens", [](const CacheStats& s) { return s.prefix_hit_ratio; }},
      {"evictions", "Blocks evicted", [](const CacheStats& s) { return double(s.evictions); }},
      {"bytes_in", "K/V payload bytes accepted", [](const CacheStats& s) { return double(s.bytes_in); }},
      {"bytes_out", "K/V payload bytes sent", [](const CacheStats& s) { return double(s.bytes_out); }},
      {"leases_expired", "Sequences released by lease expiry", [](const CacheStats& s) { return double(s.leases_expired); }},
  };
  for (const Field& f : kFields) {
    registry->AddCallbackGauge(std::string("pdserve_kvcache_") + f.name, f.help,
                               [snapshot, get = f.get] { return get(*snapshot); });
  }
}

}  // namespace pdserve::cache_manager
