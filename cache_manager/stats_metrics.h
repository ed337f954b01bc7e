// Exposes the cache manager's CacheStats as Prometheus gauges.
#ifndef PDSERVE_CACHE_MANAGER_STATS_METRICS_H_
#define PDSERVE_CACHE_MANAGER_STATS_METRICS_H_

#include "cache_manager/kv_cache_manager.h"
#include "services/common/metrics.h"

namespace pdserve::cache_manager {

// Registers pdserve_kvcache_* gauges that read one Stats() snapshot per scrape.
// `manager` must outlive `registry`'s renders.
void RegisterStatsMetrics(const KvCacheManager* manager, common::MetricsRegistry* registry);

}  // namespace pdserve::cache_manager

#endif  // PDSERVE_CACHE_MANAGER_STATS_METRICS_H_
