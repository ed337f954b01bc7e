// gRPC adapter of KvCacheManager: the unary RPCs (streams live in kv_cache_service_streams.cc).
#include "cache_manager/kv_cache_service.h"

#include "absl/strings/str_cat.h"
#include "services/common/grpc_status.h"

namespace pdserve::cache_manager {

namespace pb = ::pdserve::kvcache::v1;

absl::StatusOr<KvLayout> LayoutFromProto(const pb::KvLayout& layout) {
  KvLayout out;
  out.num_layers = layout.num_layers();
  out.num_kv_heads = layout.num_kv_heads();
  out.head_dim = layout.head_dim();
  switch (layout.dtype()) {
    case pb::DTYPE_F32: out.dtype = DType::kF32; break;
    case pb::DTYPE_F16: out.dtype = DType::kF16; break;
    case pb::DTYPE_BF16: out.dtype = DType::kBF16; break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("layout.dtype: ", static_cast<int>(layout.dtype()), " is not F32, F16 or BF16"));
  }
  if (absl::Status s = out.Validate("layout"); !s.ok()) return s;
  return out;
}

void LayoutToProto(const KvLayout& layout, pb::KvLayout* out) {
  out->set_num_layers(layout.num_layers);
  out->set_num_kv_heads(layout.num_kv_heads);
  out->set_head_dim(layout.head_dim);
  out->set_dtype(static_cast<pb::DType>(static_cast<int>(layout.dtype)));
}

KvCacheRpcMetrics::KvCacheRpcMetrics(common::MetricsRegistry* r) {
  auto h = [r](const char* method) {
    return r->AddHistogram(absl::StrCat("pdserve_kvcache_", method, "_seconds"),
                           absl::StrCat("Latency of KvCache.", method, " calls"),
                           common::LatencyBucketsSeconds());
  };
  create = h("create_sequence");
  write = h("write_kv");
  append = h("append_kv");
  read = h("read_kv");
  release = h("release_sequence");
  get_sequence = h("get_sequence");
  lookup = h("lookup");
  stats = h("get_stats");
  errors = r->AddCounter("pdserve_kvcache_rpc_errors_total", "KvCache calls that failed");
}

KvCacheService::KvCacheService(const KvCacheServiceOptions& options)
    : options_(options), rpc_metrics_(options.metrics) {}

grpc::Status KvCacheService::Reply(grpc::CallbackServerContext* context,
                                   const absl::Status& status) const {
  if (status.code() == absl::StatusCode::kResourceExhausted) AddRetryPushback(context);
  return common::ToGrpcStatus(status);
}

void KvCacheService::AddRetryPushback(grpc::CallbackServerContext* context) const {
  context->AddTrailingMetadata("grpc-retry-pushback-ms",
                               std::to_string(options_.retry_pushback_ms));
}

grpc::ServerUnaryReactor* KvCacheService::FinishUnary(grpc::CallbackServerContext* context,
                                                      common::Histogram* latency,
                                                      absl::Time start,
                                                      const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  latency->Observe(absl::ToDoubleSeconds(absl::Now() - start));
  if (!status.ok()) rpc_metrics_.errors->Add();
  reactor->Finish(Reply(context, status));
  return reactor;
}

grpc::ServerUnaryReactor* KvCacheService::CreateSequence(grpc::CallbackServerContext* context,
                                                         const pb::CreateSequenceRequest* request,
                                                         pb::CreateSequenceResponse* response) {
  const absl::Time start = absl::Now();
  absl::Status status = options_.auth->Check(*context);
  if (status.ok()) {
    absl::StatusOr<KvLayout> layout = LayoutFromProto(request->layout());
    if (!layout.ok()) {
      status = layout.status();
    } else {
      absl::StatusOr<CreateSequenceResult> created = options_.manager->CreateSequence(
          request->model_namespace(), *layout,
          absl::MakeConstSpan(request->token_ids().data(), request->token_ids().size()),
          absl::Milliseconds(request->lease_ttl_ms()));
      status = created.status();
      if (created.ok()) {
        response->set_sequence_id(created->sequence_id);
        response->set_cached_tokens(created->cached_tokens);
        response->set_block_size(options_.manager->block_size());
        response->set_lease_ttl_ms(
            static_cast<uint32_t>(absl::ToInt64Milliseconds(created->lease_ttl)));
      }
    }
  }
  return FinishUnary(context, rpc_metrics_.create, start, status);
}

grpc::ServerUnaryReactor* KvCacheService::AppendKv(grpc::CallbackServerContext* context,
                                                   const pb::AppendKvRequest* request,
                                                   pb::AppendKvResponse* response) {
  const absl::Time start = absl::Now();
  absl::Status status = options_.auth->Check(*context);
  if (status.ok()) {
    std::vector<AppendItem> items;
    items.reserve(request->items_size());
    for (const pb::AppendItem& item : request->items()) {
      items.push_back(AppendItem{
          item.sequence_id(), item.expected_offset(),
          absl::MakeConstSpan(item.token_ids().data(), item.token_ids().size()),
          absl::MakeConstSpan(reinterpret_cast<const std::byte*>(item.data().data()),
                              item.data().size())});
    }
    absl::StatusOr<std::vector<AppendResult>> results = options_.manager->AppendBatch(items);
    status = results.status();
    if (results.ok()) {
      bool exhausted = false;
      for (size_t i = 0; i < results->size(); ++i) {
        const absl::Status& item_status = (*results)[i].status;
        exhausted |= item_status.code() == absl::StatusCode::kResourceExhausted;
        pb::ItemResult* r = response->add_results();
        r->set_sequence_id(request->items(static_cast<int>(i)).sequence_id());
        r->set_code(static_cast<int>(item_status.code()));
        r->set_message(std::string(item_status.message()));
        r->set_num_tokens((*results)[i].num_tokens);
      }
      // The call succeeds with per-item statuses, but a full pool still deserves the hint.
      if (exhausted) AddRetryPushback(context);
    }
  }
  return FinishUnary(context, rpc_metrics_.append, start, status);
}

grpc::ServerUnaryReactor* KvCacheService::ReleaseSequence(
    grpc::CallbackServerContext* context, const pb::ReleaseSequenceRequest* request,
    pb::ReleaseSequenceResponse* response) {
  const absl::Time start = absl::Now();
  absl::Status status = options_.auth->Check(*context);
  if (status.ok()) {
    absl::StatusOr<uint64_t> length = options_.manager->Release(request->sequence_id());
    status = length.status();
    if (length.ok()) response->set_num_tokens(*length);
  }
  return FinishUnary(context, rpc_metrics_.release, start, status);
}

grpc::ServerUnaryReactor* KvCacheService::GetSequence(grpc::CallbackServerContext* context,
                                                      const pb::GetSequenceRequest* request,
                                                      pb::GetSequenceResponse* response) {
  const absl::Time start = absl::Now();
  absl::Status status = options_.auth->Check(*context);
  if (status.ok()) {
    absl::StatusOr<SequenceInfo> info = options_.manager->GetSequence(request->sequence_id());
    status = info.status();
    if (info.ok()) {
      response->set_sequence_id(info->sequence_id);
      response->set_model_namespace(info->model_namespace);
      LayoutToProto(info->layout, response->mutable_layout());
      response->set_num_tokens(info->num_tokens);
      response->set_prompt_tokens(info->prompt_tokens);
      response->mutable_token_ids()->Add(info->token_ids.begin(), info->token_ids.end());
      response->set_lease_ttl_ms(
          static_cast<uint32_t>(absl::ToInt64Milliseconds(info->lease_ttl)));
    }
  }
  return FinishUnary(context, rpc_metrics_.get_sequence, start, status);
}

grpc::ServerUnaryReactor* KvCacheService::Lookup(grpc::CallbackServerContext* context,
                                                 const pb::LookupRequest* request,
                                                 pb::LookupResponse* response) {
  const absl::Time start = absl::Now();
  absl::Status status = options_.auth->Check(*context);
  if (status.ok()) {
    absl::StatusOr<uint64_t> cached = options_.manager->Lookup(
        request->model_namespace(),
        absl::MakeConstSpan(request->token_ids().data(), request->token_ids().size()));
    status = cached.status();
    if (cached.ok()) {
      response->set_cached_tokens(*cached);
      response->set_block_size(options_.manager->block_size());
    }
  }
  return FinishUnary(context, rpc_metrics_.lookup, start, status);
}

grpc::ServerUnaryReactor* KvCacheService::GetStats(grpc::CallbackServerContext* context,
                                                   const pb::GetStatsRequest* /*request*/,
                                                   pb::GetStatsResponse* response) {
  const absl::Time start = absl::Now();
  absl::Status status = options_.auth->Check(*context);
  if (status.ok()) {
    CacheStats s = options_.manager->Stats();
    response->set_capacity_bytes(s.capacity_bytes);
    response->set_used_bytes(s.used_bytes);
    response->set_free_bytes(s.free_bytes);
    response->set_overhead_bytes(s.overhead_bytes);
    response->set_block_size(s.block_size);
    response->set_blocks_partial(s.blocks_partial + s.blocks_in_flight);
    response->set_blocks_pinned(s.blocks_pinned);
    response->set_blocks_cached(s.blocks_cached);
    response->set_sequences(s.sequences);
    response->set_prefix_lookup_tokens(s.prefix_lookup_tokens);
    response->set_prefix_hit_tokens(s.prefix_hit_tokens);
    response->set_prefix_hit_ratio(s.prefix_hit_ratio);
    response->set_evictions(s.evictions);
    response->set_bytes_in(s.bytes_in);
    response->set_bytes_out(s.bytes_out);
    response->set_leases_expired(s.leases_expired);
  }
  return FinishUnary(context, rpc_metrics_.stats, start, status);
}

}  // namespace pdserve::cache_manager
