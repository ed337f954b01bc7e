// Client helpers of kv_cache_service_test (see kv_cache_service_test_client.h).
#include "cache_manager/kv_cache_service_test_client.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/generic/generic_stub.h>

#include "xxhash.h"

namespace pdserve::cache_manager::service_testing {

namespace pb = ::pdserve::kvcache::v1;

grpc::Status Client::Write(const std::vector<pb::WriteKvRequest>& messages,
                           pb::WriteKvResponse* out,
                           std::multimap<std::string, std::string>* trailers) {
  pb::WriteKvResponse response;
  grpc::ClientContext context;
  Prepare(&context);
  std::unique_ptr<grpc::ClientWriter<pb::WriteKvRequest>> writer =
      stub_->WriteKv(&context, &response);
  for (const pb::WriteKvRequest& m : messages) {
    if (!writer->Write(m)) break;
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (out != nullptr) *out = response;
  if (trailers != nullptr) {
    for (const auto& [k, v] : context.GetServerTrailingMetadata()) {
      trailers->emplace(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
    }
  }
  return status;
}

grpc::Status Client::WriteBytes(const std::vector<std::string>& messages,
                                pb::WriteKvResponse* out) {
  // A generic call on a completion queue: the typed stub only sends valid messages. One
  // operation is in flight at a time, so each Next() returns the one just started.
  grpc::GenericStub generic(channel_);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  Prepare(&context);
  auto wait = [&cq] {
    void* tag;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&tag, &ok));
    return ok;
  };
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      generic.PrepareCall(&context, "/pdserve.kvcache.v1.KvCache/WriteKv", &cq);
  call->StartCall(nullptr);
  bool ok = wait();
  for (size_t i = 0; ok && i < messages.size(); ++i) {
    grpc::Slice slice(messages[i]);
    call->Write(grpc::ByteBuffer(&slice, 1), nullptr);
    ok = wait();
  }
  call->WritesDone(nullptr);
  wait();
  grpc::ByteBuffer reply;
  call->Read(&reply, nullptr);
  const bool got_reply = wait();
  grpc::Status status;
  call->Finish(&status, nullptr);
  wait();
  if (got_reply && out != nullptr) {
    EXPECT_TRUE(grpc::SerializationTraits<pb::WriteKvResponse>::Deserialize(&reply, out).ok());
  }
  cq.Shutdown();
  void* tag;
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

grpc::Status Client::Append(const std::vector<pb::AppendItem>& items, pb::AppendKvResponse* out,
                            std::multimap<std::string, std::string>* trailers) {
  pb::AppendKvRequest request;
  for (const pb::AppendItem& item : items) *request.add_items() = item;
  grpc::ClientContext context;
  Prepare(&context);
  grpc::Status s = stub_->AppendKv(&context, request, out);
  if (trailers != nullptr) {
    for (const auto& [k, v] : context.GetServerTrailingMetadata()) {
      trailers->emplace(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
    }
  }
  return s;
}

ReadResult Client::Read(const std::string& id, uint64_t from,
                        const std::vector<pb::BlockKey>& held) {
  pb::ReadKvRequest request;
  request.set_sequence_id(id);
  request.set_from_token(from);
  for (const pb::BlockKey& k : held) *request.add_held_blocks() = k;
  grpc::ClientContext context;
  Prepare(&context);
  std::unique_ptr<grpc::ClientReader<pb::ReadKvResponse>> reader = stub_->ReadKv(&context, request);
  ReadResult result;
  pb::ReadKvResponse message;
  bool in_block = false;
  while (reader->Read(&message)) {
    result.messages.push_back(message);
    if (message.num_tokens() == 0) continue;  // the length-only message
    if (!in_block) {
      ReadBlock block;
      block.block_index = message.block_index();
      block.first_token = message.first_token();
      block.num_tokens = message.num_tokens();
      block.has_key = message.has_key();
      block.key = message.key();
      block.checksum = message.checksum();
      result.blocks.push_back(block);
      in_block = true;
    }
    ReadBlock& block = result.blocks.back();
    EXPECT_EQ(message.block_index(), block.block_index);
    EXPECT_EQ(message.byte_offset(), block.data.size()) << "parts out of order";
    EXPECT_LE(message.data().size(), part_bytes_);
    block.data += message.data();
    if (message.last_part()) {
      EXPECT_EQ(block.data.size(), block.num_tokens * kTokenBytes);
      EXPECT_EQ(XXH3_64bits(block.data.data(), block.data.size()), block.checksum)
          << "block " << block.block_index << " fails its checksum";
      result.data += block.data;
      in_block = false;
    }
  }
  EXPECT_FALSE(in_block) << "stream ended inside a block";
  result.status = reader->Finish();
  return result;
}

pb::WriteKvRequest Begin(const std::string& id, uint64_t offset, uint64_t n) {
  pb::WriteKvRequest r;
  r.mutable_begin()->set_sequence_id(id);
  r.mutable_begin()->set_expected_offset(offset);
  r.mutable_begin()->set_num_tokens(n);
  return r;
}

pb::WriteKvRequest Slab(uint64_t first, uint32_t n, uint32_t layer_begin, uint32_t num_layers,
                        std::string data) {
  pb::WriteKvRequest r;
  pb::KvSlab* s = r.mutable_slab();
  s->set_first_token(first);
  s->set_num_tokens(n);
  s->set_layer_begin(layer_begin);
  s->set_num_layers(num_layers);
  s->set_data(std::move(data));
  return r;
}

pb::WriteKvRequest LayerSlab(const std::vector<int32_t>& tokens, uint64_t first, uint32_t n,
                             uint32_t layer_begin, uint32_t num_layers) {
  const std::vector<std::byte> full =
      ::pdserve::cache_manager::testing::KvPattern(tokens, first, first + n, kTokenBytes);
  return Slab(first, n, layer_begin, num_layers,
              Bytes(::pdserve::cache_manager::testing::SliceLayers(full, kLayout, first, first, n,
                                                                   layer_begin, num_layers)));
}

pb::WriteKvRequest Commit() {
  pb::WriteKvRequest r;
  r.mutable_commit();
  return r;
}

pb::AppendItem Item(const std::string& id, uint64_t offset, const std::vector<int32_t>& tokens,
                    uint64_t begin, uint64_t end) {
  pb::AppendItem item;
  item.set_sequence_id(id);
  item.set_expected_offset(offset);
  for (uint64_t t = begin; t < end; ++t) item.add_token_ids(tokens[t]);
  item.set_data(Kv(tokens, begin, end));
  return item;
}

}  // namespace pdserve::cache_manager::service_testing
