// WriteSession: slab validation and copying for one uncommitted write.
#include "cache_manager/write_session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cache_manager/kv_cache_manager.h"

namespace pdserve::cache_manager {

WriteSession::WriteSession(KvCacheManager* manager, internal::PendingWrite write)
    : manager_(manager),
      write_(std::move(write)),
      next_token_(write_.ns->layout.num_layers, write_.begin) {}

WriteSession::~WriteSession() {
  if (!finished_) manager_->DropWrite(write_);
}

absl::Status WriteSession::Write(const KvSlab& slab) {
  if (finished_) return absl::FailedPreconditionError("write session already committed");
  const KvLayout& layout = write_.ns->layout;
  if (slab.num_tokens == 0) return absl::InvalidArgumentError("slab.num_tokens is 0; want >= 1");
  if (slab.num_layers == 0) return absl::InvalidArgumentError("slab.num_layers is 0; want >= 1");
  if (slab.layer_begin >= layout.num_layers ||
      slab.num_layers > layout.num_layers - slab.layer_begin) {
    return absl::InvalidArgumentError(
        absl::StrCat("slab layers [", slab.layer_begin, ", ",
                     uint64_t{slab.layer_begin} + slab.num_layers, ") pass the ",
                     layout.num_layers, " layers of the layout"));
  }
  if (slab.first_token < write_.begin || slab.first_token > write_.end ||
      slab.num_tokens > write_.end - slab.first_token) {
    return absl::InvalidArgumentError(absl::StrCat(
        "slab tokens [", slab.first_token, ", +", slab.num_tokens,
        ") leave the write's range [", write_.begin, ", ", write_.end, ")"));
  }
  for (uint32_t l = slab.layer_begin; l < slab.layer_begin + slab.num_layers; ++l) {
    if (slab.first_token != next_token_[l]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "slab.first_token is ", slab.first_token, " but layer ", l, " is written up to token ",
          next_token_[l], slab.first_token > next_token_[l] ? " (skips tokens)"
                                                            : " (overlaps written tokens)"));
    }
  }
  const uint64_t want = slab.num_tokens * slab.num_layers * layout.LayerBytes();
  if (slab.data.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat(
        "slab.data is ", slab.data.size(), " bytes; want ", slab.num_tokens, " tokens x ",
        slab.num_layers, " layers x ", layout.LayerBytes(), " bytes = ", want));
  }
  internal::CopyIntoTargets(write_, slab.first_token, slab.num_tokens, slab.layer_begin,
                            slab.num_layers, slab.data.pieces());
  for (uint32_t l = slab.layer_begin; l < slab.layer_begin + slab.num_layers; ++l) {
    next_token_[l] += slab.num_tokens;
  }
  // Tokens whose every layer is now written are hashed while some of them are still in cache
  // (a slab of all layers was hashed during its copy already).
  internal::HashUpTo(write_, *std::min_element(next_token_.begin(), next_token_.end()));
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> WriteSession::Commit() {
  if (finished_) return absl::FailedPreconditionError("write session already committed");
  for (size_t l = 0; l < next_token_.size(); ++l) {
    if (next_token_[l] != write_.end) {
      return absl::FailedPreconditionError(absl::StrCat(
          "commit before layer ", l, " covered the write: it has tokens [", write_.begin, ", ",
          next_token_[l], ") of [", write_.begin, ", ", write_.end, ")"));
    }
  }
  internal::FinishChecksums(write_);
  finished_ = true;
  return manager_->FinishWrite(write_);
}

}  // namespace pdserve::cache_manager
