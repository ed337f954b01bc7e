// LocalKv.
#include "services/decode/local_kv.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace pdserve::decode {

LocalKv::LocalKv(const decoder::KvLayout& layout, KvBlockArenas* arenas, bool keep_blocks)
    : layout_(layout), arenas_(arenas), keep_blocks_(keep_blocks) {}

std::vector<kvclient::BlockKey> LocalKv::HeldKeys() const {
  std::vector<kvclient::BlockKey> held;
  if (!keep_blocks_) return held;
  for (const Block& b : blocks_) {
    if (b.key.has_value()) held.push_back(*b.key);
  }
  return held;
}

uint64_t LocalKv::covered() const {
  return blocks_.empty() ? 0 : blocks_.back().first_token + blocks_.back().num_tokens;
}

absl::Status LocalKv::Merge(kvclient::ReadResult read, uint64_t expected_length,
                            const std::string& sequence_id) {
  if (read.sequence_length != expected_length) {
    return absl::FailedPreconditionError(
        absl::StrCat("sequence '", sequence_id, "' holds ", read.sequence_length,
                     " tokens, expected ", expected_length, " (another writer?)"));
  }
  if (block_size_ != 0 && read.block_size != block_size_) {
    return absl::DataLossError(absl::StrCat("sequence '", sequence_id,
                                            "': block size changed from ", block_size_, " to ",
                                            read.block_size));
  }
  block_size_ = read.block_size;
  const bool keep = growable();
  if (!keep) blocks_.clear();
  for (kvclient::KvBlock& block : read.blocks) {
    if (block.index > blocks_.size()) {
      return absl::DataLossError(absl::StrCat("sequence '", sequence_id, "': block ",
                                              block.index, " arrived without its predecessors"));
    }
    if ((keep && block.num_tokens > block_size_) ||
        block.data->size() != size_t{block.num_tokens} * layout_.TokenFloats()) {
      return absl::DataLossError(absl::StrCat("sequence '", sequence_id, "': block ",
                                              block.index, " holds ", block.num_tokens,
                                              " tokens in ", block.data->size(),
                                              " floats; block size ", block_size_));
    }
    Block local{block.index, block.first_token, block.num_tokens, block.key, nullptr, 0};
    if (keep) {
      // Kept for the sequence's lifetime: into a huge-page slot, with room to grow.
      local.data = arenas_->For(size_t{block_size_} * layout_.TokenFloats()).Allocate();
      local.capacity = block_size_;
      decoder::CopyToBlock(layout_, block.data->data(), block.num_tokens, local.capacity, 0,
                           local.data.get());
    } else {
      local.data = std::shared_ptr<float>(block.data, const_cast<float*>(block.data->data()));
    }
    if (block.index == blocks_.size()) {
      blocks_.push_back(std::move(local));
    } else {
      blocks_[block.index] = std::move(local);
    }
  }
  RebuildSpans();
  return CheckCoverage(expected_length, sequence_id);
}

absl::Status LocalKv::CheckCoverage(uint64_t expected_length,
                                    const std::string& sequence_id) const {
  uint64_t covered = 0;
  for (const Block& b : blocks_) {
    if (b.first_token != covered) {
      return absl::DataLossError(absl::StrCat("sequence '", sequence_id, "': block ", b.index,
                                              " starts at ", b.first_token, ", expected ",
                                              covered));
    }
    covered += b.num_tokens;
  }
  if (covered != expected_length) {
    return absl::DataLossError(absl::StrCat("sequence '", sequence_id, "': K/V covers ", covered,
                                            " tokens, expected ", expected_length));
  }
  return absl::OkStatus();
}

void LocalKv::Append(absl::Span<const float> kv) {
  if (blocks_.empty() || blocks_.back().num_tokens >= block_size_) {
    Block block;
    block.index = static_cast<uint32_t>(blocks_.size());
    block.first_token = covered();
    block.data = arenas_->For(size_t{block_size_} * layout_.TokenFloats()).Allocate();
    block.capacity = block_size_;
    blocks_.push_back(std::move(block));
    spans_.push_back({blocks_.back().data.get(), 0, block_size_});
  }
  Block& last = blocks_.back();
  decoder::CopyToBlock(layout_, kv.data(), 1, last.capacity, last.num_tokens, last.data.get());
  ++last.num_tokens;
  ++spans_.back().num_tokens;
}

void LocalKv::RebuildSpans() {
  spans_.clear();
  for (const Block& b : blocks_) spans_.push_back({b.data.get(), b.num_tokens, b.capacity});
}

}  // namespace pdserve::decode
