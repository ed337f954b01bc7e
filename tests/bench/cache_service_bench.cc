// cache_service_bench: the KV cache manager's gRPC service over loopback against baselines
// measured in the same run. WriteKv and ReadKv throughput for a 4096-token sequence of the
// synthetic:bench layout (12 layers, 4 kv heads, head_dim 64, F32: 24 KiB per token, 96 MiB) as a
// ratio to memcpy of the same bytes; Lookup and GetStats rates with 16 concurrent clients as a
// ratio to a bare callback-API echo server. Both servers run in this process on 127.0.0.1:0 with
// the same builder settings. Prints one JSON object.
//
// Usage: cache_service_bench [--iterations=5] [--seconds=2] [--clients=16] [--bulk_args]
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "cache_manager/bulk_malloc.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cache_manager/kv_cache_manager.h"
#include "cache_manager/kv_cache_service.h"
#include "nlohmann/json.hpp"
#include "echo/echo.grpc.pb.h"
#include "services/common/auth.h"
#include "services/common/metrics.h"
#include "xxhash.h"

ABSL_FLAG(int, iterations, 5, "timed WriteKv/ReadKv/memcpy repetitions (best and median kept)");
ABSL_FLAG(double, seconds, 2.0, "seconds per small-RPC measurement round (two rounds each)");
ABSL_FLAG(int, clients, 16, "concurrent small-RPC clients, one channel each");
ABSL_FLAG(bool, bulk_args, false,
          "give servers and channels bulk-transfer HTTP/2 and TCP settings (large frames, "
          "windows and read chunks) instead of gRPC's defaults");

namespace pdserve::cache_manager {
namespace {

namespace pb = ::pdserve::kvcache::v1;
namespace echo = ::pdserve::bench::v1;

constexpr KvLayout kBenchLayout{12, 4, 64, DType::kF32};  // synthetic:bench
constexpr uint64_t kTokens = 4096;
constexpr uint64_t kSlabTokens = 32;  // 768 KiB slabs (the contract asks for < 1 MiB)
constexpr char kNamespace[] = "synthetic:bench";
constexpr int kMaxMessageBytes = 64 << 20;  // as ServerRunner
constexpr absl::Duration kDeadline = absl::Seconds(60);

// A bare service on the callback API: the small-RPC baseline (Echo) and the bulk-transfer
// ceiling of gRPC itself (Sink, Source).
class EchoService final : public echo::Echo::CallbackService {
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const echo::EchoRequest* request,
                                 echo::EchoResponse* response) override {
    response->set_payload(request->payload());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerReadReactor<echo::EchoRequest>* Sink(grpc::CallbackServerContext* /*context*/,
                                                   echo::EchoResponse* /*response*/) override {
    class Reactor final : public grpc::ServerReadReactor<echo::EchoRequest> {
     public:
      Reactor() { StartRead(&request_); }
      void OnReadDone(bool ok) override {
        if (!ok) {
          Finish(grpc::Status::OK);
          return;
        }
        StartRead(&request_);
      }
      void OnDone() override { delete this; }

     private:
      echo::EchoRequest request_;
    };
    return new Reactor();
  }

  grpc::ServerWriteReactor<echo::EchoResponse>* Source(
      grpc::CallbackServerContext* /*context*/, const echo::SourceRequest* request) override {
    class Reactor final : public grpc::ServerWriteReactor<echo::EchoResponse> {
     public:
      explicit Reactor(const echo::SourceRequest& request) : left_(request.messages()) {
        response_.set_payload(std::string(request.payload_bytes(), 'x'));
        Next();
      }
      void OnWriteDone(bool ok) override {
        if (!ok) {
          Finish(grpc::Status::CANCELLED);
          return;
        }
        Next();
      }
      void OnDone() override { delete this; }

     private:
      void Next() {
        if (left_ == 0) {
          Finish(grpc::Status::OK);
          return;
        }
        --left_;
        StartWrite(&response_);
      }
      uint32_t left_;
      echo::EchoResponse response_;
    };
    return new Reactor(*request);
  }
};

// Bulk-transfer settings (--bulk_args), the same on both ends.
template <typename SetInt>
void AddBulkArgs(SetInt set) {
  if (!absl::GetFlag(FLAGS_bulk_args)) return;
  set(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, (16 << 20) - 1);
  set(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 << 20);
  set(GRPC_ARG_HTTP2_WRITE_BUFFER_SIZE, 8 << 20);
  set(GRPC_ARG_TCP_READ_CHUNK_SIZE, 4 << 20);
  set(GRPC_ARG_TCP_MIN_READ_CHUNK_SIZE, 1 << 20);
  set(GRPC_ARG_TCP_MAX_READ_CHUNK_SIZE, 8 << 20);
}

// One server on 127.0.0.1:0; both servers of the run are built the same way.
std::unique_ptr<grpc::Server> StartServer(grpc::Service* service, int* port) {
  grpc::ServerBuilder builder;
  AddBulkArgs([&](const char* name, int value) { builder.AddChannelArgument(name, value); });
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *port == 0) {
    std::fprintf(stderr, "cache_service_bench: could not start a server\n");
    std::exit(1);
  }
  return server;
}

// A channel of its own (not shared through the global subchannel pool): one TCP connection.
std::shared_ptr<grpc::Channel> NewChannel(int port) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  AddBulkArgs([&](const char* name, int value) { args.SetInt(name, value); });
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials(), args);
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + kDeadline));
}

[[noreturn]] void Die(const std::string& what, const grpc::Status& status) {
  std::fprintf(stderr, "cache_service_bench: %s: %d %s\n", what.c_str(), status.error_code(),
               status.error_message().c_str());
  std::exit(1);
}

std::vector<int32_t> Prompt(uint64_t n, int32_t salt) {
  std::vector<int32_t> t(n);
  for (uint64_t i = 0; i < n; ++i) t[i] = static_cast<int32_t>((i * 7919 + salt) % 32000);
  t[0] = salt;  // a distinct first token: no prefix hits between iterations
  return t;
}

// CPU time of the whole process (client and server threads, user and system): steadier than
// wall time on a shared machine, and what the copies cost.
double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Timing {
  std::vector<double> seconds;
  std::vector<double> cpu_seconds;
  // Runs `body` once and records its wall and process CPU time.
  template <typename F>
  void Measure(F&& body) {
    const absl::Time t0 = absl::Now();
    const double c0 = ProcessCpuSeconds();
    body();
    seconds.push_back(absl::ToDoubleSeconds(absl::Now() - t0));
    cpu_seconds.push_back(ProcessCpuSeconds() - c0);
  }
  double BestCpu() const {
    return cpu_seconds.empty() ? 0 : *std::min_element(cpu_seconds.begin(), cpu_seconds.end());
  }
  double Best() const { return *std::min_element(seconds.begin(), seconds.end()); }
  double Median() const {
    std::vector<double> s = seconds;
    std::sort(s.begin(), s.end());
    return s[s.size() / 2];
  }
};

// WriteKv and ReadKv of whole sequences, and memcpy of the same bytes, interleaved.
class Throughput {
 public:
  explicit Throughput(int port)
      : channel_(NewChannel(port)), stub_(pb::KvCache::NewStub(channel_)) {
    const uint64_t bytes = kTokens * kBenchLayout.TokenBytes();
    source_.resize(bytes);
    for (uint64_t i = 0; i < bytes; i += 8) {
      const uint64_t v = i * 0x9e3779b97f4a7c15ULL;
      std::memcpy(&source_[i], &v, 8);
    }
    destination_.resize(bytes);
    std::memcpy(destination_.data(), source_.data(), bytes);  // fault the pages in
    // The slabs are built once: the client's cost per write is serialization, as for a prefill
    // server that computes K/V straight into its outgoing messages.
    const uint64_t tb = kBenchLayout.TokenBytes();
    for (uint64_t t = 0; t < kTokens; t += kSlabTokens) {
      pb::WriteKvRequest r;
      pb::KvSlab* slab = r.mutable_slab();
      slab->set_first_token(t);
      slab->set_num_tokens(kSlabTokens);
      slab->set_layer_begin(0);
      slab->set_num_layers(kBenchLayout.num_layers);
      slab->set_data(source_.data() + t * tb, kSlabTokens * tb);
      slabs_.push_back(std::move(r));
    }
    bare_payload_.set_payload(std::string(kSlabTokens * tb, 'x'));
  }

  uint64_t bytes() const { return source_.size(); }

  // GB/s of each pass over the bytes a WriteKv or ReadKv makes outside the kernel, timed alone
  // in this process (best of 3): where the RPCs' time goes.
  nlohmann::json Breakdown(KvCacheManager& manager) const {
    auto best_gbps = [this](auto&& pass) {
      double best = 1e9;
      for (int i = 0; i < 3; ++i) {
        const absl::Time t0 = absl::Now();
        pass();
        best = std::min(best, absl::ToDoubleSeconds(absl::Now() - t0));
      }
      return static_cast<double>(bytes()) / best / 1e9;
    };
    std::vector<std::string> wire(slabs_.size());
    nlohmann::json j;
    j["client_serialize_slabs"] = best_gbps([&] {
      for (size_t i = 0; i < slabs_.size(); ++i) slabs_[i].SerializeToString(&wire[i]);
    });
    pb::WriteKvRequest parsed;
    j["server_parse_slabs"] = best_gbps([&] {
      for (const std::string& w : wire) {
        if (!parsed.ParseFromString(w)) std::abort();
      }
    });
    int32_t salt = 30000;  // distinct from the timed runs' salts
    j["core_write_commit"] = best_gbps([&] {
      const std::vector<int32_t> prompt = Prompt(kTokens, ++salt);
      auto created = manager.CreateSequence(kNamespace, kBenchLayout, prompt, absl::ZeroDuration());
      if (!created.ok()) std::abort();
      auto session = manager.BeginWrite(created->sequence_id, 0, kTokens);
      if (!session.ok()) std::abort();
      const uint64_t tb = kBenchLayout.TokenBytes();
      for (uint64_t t = 0; t < kTokens; t += kSlabTokens) {
        const auto* data = reinterpret_cast<const std::byte*>(source_.data() + t * tb);
        if (!(*session)->Write(KvSlab{t, kSlabTokens, 0, kBenchLayout.num_layers,
                                      absl::MakeConstSpan(data, kSlabTokens * tb)})
                 .ok()) {
          std::abort();
        }
      }
      if (!(*session)->Commit().ok()) std::abort();
      if (!manager.Release(created->sequence_id).ok()) std::abort();
    });
    j["xxh3_64"] = best_gbps([&] {
      if (XXH3_64bits(source_.data(), source_.size()) == 42) std::abort();
    });
    pb::ReadKvResponse message;
    j["read_copy_into_message"] = best_gbps([&] {
      for (uint64_t off = 0; off < bytes(); off += kSlabTokens * kBenchLayout.TokenBytes()) {
        message.set_data(source_.data() + off, kSlabTokens * kBenchLayout.TokenBytes());
      }
    });
    return j;
  }
  void ClearTimings() {
    memcpy_ = write_ = zero_copy_write_ = read_ = bare_write_ = bare_read_ = Timing();
  }

  // The same bytes in the same message sizes through the bare Sink and Source methods.
  void RunBare(echo::Echo::Stub* echo) {
    const uint32_t part = static_cast<uint32_t>(kSlabTokens * kBenchLayout.TokenBytes());
    const uint32_t messages = static_cast<uint32_t>(bytes() / part);
    {
      echo::EchoResponse response;
      grpc::ClientContext context;
      SetDeadline(&context);
      bare_write_.Measure([&] {
        auto writer = echo->Sink(&context, &response);
        for (uint32_t i = 0; i < messages && writer->Write(bare_payload_); ++i) {
        }
        writer->WritesDone();
        grpc::Status s = writer->Finish();
        if (!s.ok()) Die("Sink", s);
      });
    }
    {
      echo::SourceRequest request;
      request.set_messages(messages);
      request.set_payload_bytes(part);
      grpc::ClientContext context;
      SetDeadline(&context);
      bare_read_.Measure([&] {
        auto reader = echo->Source(&context, request);
        echo::EchoResponse response;
        uint64_t received = 0;
        while (reader->Read(&response)) received += response.payload().size();
        grpc::Status s = reader->Finish();
        if (!s.ok() || received != bytes()) Die("Source", s);
      });
    }
  }

  void RunOnce(int32_t salt) {
    const absl::Time m0 = absl::Now();
    std::memcpy(destination_.data(), source_.data(), source_.size());
    memcpy_.seconds.push_back(absl::ToDoubleSeconds(absl::Now() - m0));
    if (destination_[salt % destination_.size()] != source_[salt % source_.size()]) std::abort();

    const std::string id = Create(salt);
    write_.Measure([&] { Write(id); });
    read_.Measure([&] { Read(id); });
    Release(id);

    const std::string other = Create(salt + 10000);
    zero_copy_write_.Measure([&] { WriteZeroCopy(other); });
    Release(other);
  }

  nlohmann::json Report() const {
    auto gbps = [this](double s) { return static_cast<double>(bytes()) / s / 1e9; };
    nlohmann::json j;
    j["bytes"] = bytes();
    j["iterations"] = memcpy_.seconds.size();
    for (const auto& [name, t] : {std::pair<const char*, const Timing*>{"memcpy", &memcpy_},
                                  {"write_kv", &write_},
                                  {"write_kv_zero_copy_client", &zero_copy_write_},
                                  {"read_kv", &read_},
                                  {"bare_grpc_client_stream", &bare_write_},
                                  {"bare_grpc_server_stream", &bare_read_}}) {
      j[name]["best_gb_per_s"] = gbps(t->Best());
      j[name]["median_gb_per_s"] = gbps(t->Median());
      if (t->BestCpu() > 0) j[name]["best_cpu_ms"] = t->BestCpu() * 1e3;
    }
    j["write_kv"]["ratio_to_memcpy"] = memcpy_.Best() / write_.Best();
    j["read_kv"]["ratio_to_memcpy"] = memcpy_.Best() / read_.Best();
    j["write_kv"]["median_ratio_to_memcpy"] = memcpy_.Median() / write_.Median();
    j["write_kv_zero_copy_client"]["ratio_to_memcpy"] = memcpy_.Best() / zero_copy_write_.Best();
    j["write_kv_zero_copy_client"]["median_ratio_to_memcpy"] =
        memcpy_.Median() / zero_copy_write_.Median();
    j["read_kv"]["median_ratio_to_memcpy"] = memcpy_.Median() / read_.Median();
    // How close the adapter gets to gRPC's own ceiling for the same bytes and message sizes.
    j["write_kv"]["ratio_to_bare_grpc"] = bare_write_.Best() / write_.Best();
    j["read_kv"]["ratio_to_bare_grpc"] = bare_read_.Best() / read_.Best();
    j["target_ratio"] = 0.3;
    return j;
  }

 private:
  std::string Create(int32_t salt) {
    pb::CreateSequenceRequest request;
    request.set_model_namespace(kNamespace);
    LayoutToProto(kBenchLayout, request.mutable_layout());
    const std::vector<int32_t> prompt = Prompt(kTokens, salt);
    request.mutable_token_ids()->Add(prompt.begin(), prompt.end());
    pb::CreateSequenceResponse response;
    grpc::ClientContext context;
    SetDeadline(&context);
    grpc::Status s = stub_->CreateSequence(&context, request, &response);
    if (!s.ok()) Die("CreateSequence", s);
    if (response.cached_tokens() != 0) Die("CreateSequence: unexpected prefix hit", s);
    return response.sequence_id();
  }

  void Write(const std::string& id) {
    pb::WriteKvResponse response;
    grpc::ClientContext context;
    SetDeadline(&context);
    auto writer = stub_->WriteKv(&context, &response);
    pb::WriteKvRequest begin;
    begin.mutable_begin()->set_sequence_id(id);
    begin.mutable_begin()->set_num_tokens(kTokens);
    bool ok = writer->Write(begin);
    for (size_t i = 0; ok && i < slabs_.size(); ++i) ok = writer->Write(slabs_[i]);
    pb::WriteKvRequest commit;
    commit.mutable_commit();
    if (ok) writer->Write(commit);
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    if (!s.ok() || response.num_tokens() != kTokens) Die("WriteKv", s);
  }

  // The same write from a client that does not serialize: each slab message is two slices,
  // its other fields with the data field's tag and length, then the payload referenced where
  // it lies (a client computing K/V into buffers it hands to gRPC). A generic call on a
  // completion queue, one operation in flight at a time, as the blocking writer above.
  void WriteZeroCopy(const std::string& id) {
    grpc::GenericStub generic(channel_);
    grpc::CompletionQueue cq;
    grpc::ClientContext context;
    SetDeadline(&context);
    auto wait = [&cq] {
      void* tag;
      bool ok = false;
      return cq.Next(&tag, &ok) && ok;
    };
    auto call = generic.PrepareCall(&context, "/pdserve.kvcache.v1.KvCache/WriteKv", &cq);
    call->StartCall(nullptr);
    bool ok = wait();
    auto send = [&](std::string head, const char* payload, size_t payload_bytes) {
      grpc::Slice slices[2] = {grpc::Slice(head),
                               grpc::Slice(payload, payload_bytes, grpc::Slice::STATIC_SLICE)};
      call->Write(grpc::ByteBuffer(slices, payload_bytes > 0 ? 2 : 1), nullptr);
      return wait();
    };
    pb::WriteKvRequest begin;
    begin.mutable_begin()->set_sequence_id(id);
    begin.mutable_begin()->set_num_tokens(kTokens);
    ok = ok && send(begin.SerializeAsString(), nullptr, 0);
    const uint64_t tb = kBenchLayout.TokenBytes();
    for (uint64_t t = 0; ok && t < kTokens; t += kSlabTokens) {
      pb::KvSlab fields;
      fields.set_first_token(t);
      fields.set_num_tokens(kSlabTokens);
      fields.set_num_layers(kBenchLayout.num_layers);
      std::string data_key;
      AppendTagAndLength(pb::KvSlab::kDataFieldNumber, kSlabTokens * tb, &data_key);
      std::string head;
      AppendTagAndLength(pb::WriteKvRequest::kSlabFieldNumber,
                         fields.ByteSizeLong() + data_key.size() + kSlabTokens * tb, &head);
      head += fields.SerializeAsString() + data_key;
      ok = send(std::move(head), source_.data() + t * tb, kSlabTokens * tb);
    }
    pb::WriteKvRequest commit;
    commit.mutable_commit();
    if (ok) send(commit.SerializeAsString(), nullptr, 0);
    call->WritesDone(nullptr);
    wait();
    grpc::ByteBuffer reply;
    call->Read(&reply, nullptr);
    wait();
    grpc::Status s;
    call->Finish(&s, nullptr);
    wait();
    pb::WriteKvResponse response;
    if (!s.ok() ||
        !grpc::SerializationTraits<pb::WriteKvResponse>::Deserialize(&reply, &response).ok() ||
        response.num_tokens() != kTokens) {
      Die("WriteKv (zero-copy client)", s);
    }
    cq.Shutdown();
    void* tag;
    while (cq.Next(&tag, &ok)) {
    }
  }

  // Appends a length-delimited field's tag and `length` as protobuf varints.
  static void AppendTagAndLength(int field, uint64_t length, std::string* out) {
    for (uint64_t v : {(static_cast<uint64_t>(field) << 3) | 2, length}) {
      for (; v >= 0x80; v >>= 7) out->push_back(static_cast<char>((v & 0x7f) | 0x80));
      out->push_back(static_cast<char>(v));
    }
  }

  // Receives every block and verifies its checksum, as pdserve's KV client does.
  void Read(const std::string& id) {
    pb::ReadKvRequest request;
    request.set_sequence_id(id);
    grpc::ClientContext context;
    SetDeadline(&context);
    auto reader = stub_->ReadKv(&context, request);
    pb::ReadKvResponse message;
    uint64_t received = 0;
    XXH3_state_t* state = XXH3_createState();
    while (reader->Read(&message)) {
      if (message.byte_offset() == 0) XXH3_64bits_reset(state);
      XXH3_64bits_update(state, message.data().data(), message.data().size());
      received += message.data().size();
      if (message.last_part() && XXH3_64bits_digest(state) != message.checksum()) {
        Die("ReadKv: checksum mismatch", grpc::Status::OK);
      }
    }
    XXH3_freeState(state);
    grpc::Status s = reader->Finish();
    if (!s.ok() || received != bytes()) Die("ReadKv", s);
  }

  void Release(const std::string& id) {
    pb::ReleaseSequenceRequest request;
    request.set_sequence_id(id);
    pb::ReleaseSequenceResponse response;
    grpc::ClientContext context;
    SetDeadline(&context);
    grpc::Status s = stub_->ReleaseSequence(&context, request, &response);
    if (!s.ok()) Die("ReleaseSequence", s);
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::KvCache::Stub> stub_;
  std::vector<char> source_;
  std::vector<char> destination_;
  std::vector<pb::WriteKvRequest> slabs_;
  echo::EchoRequest bare_payload_;
  Timing memcpy_, write_, zero_copy_write_, read_, bare_write_, bare_read_;
};

// Calls per second of `call` (one blocking unary call on client i) from `clients` threads,
// each on its own channel, for `seconds`.
template <typename Call>
double Rate(int clients, double seconds, Call call) {
  std::atomic<bool> stop{false};
  std::vector<uint64_t> counts(clients, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) call(i);  // connect and warm up
  const absl::Time start = absl::Now();
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      while (!stop.load(std::memory_order_relaxed)) {
        call(i);
        ++counts[i];
      }
    });
  }
  std::this_thread::sleep_for(absl::ToChronoSeconds(absl::Seconds(seconds)));
  stop = true;
  for (std::thread& t : threads) t.join();
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  return static_cast<double>(total) / elapsed;
}

// Lookup asks for the first 64 tokens (4 cached blocks) of the sequence written with
// `cached_salt`.
nlohmann::json SmallRpcRates(int cache_port, int echo_port, int clients, double seconds,
                             int32_t cached_salt) {
  std::vector<std::unique_ptr<pb::KvCache::Stub>> cache;
  std::vector<std::unique_ptr<echo::Echo::Stub>> echoes;
  for (int i = 0; i < clients; ++i) {
    cache.push_back(pb::KvCache::NewStub(NewChannel(cache_port)));
    echoes.push_back(echo::Echo::NewStub(NewChannel(echo_port)));
  }
  pb::LookupRequest lookup;
  lookup.set_model_namespace(kNamespace);
  const std::vector<int32_t> prompt = Prompt(64, cached_salt);
  lookup.mutable_token_ids()->Add(prompt.begin(), prompt.end());
  echo::EchoRequest ping;
  ping.set_payload(std::string(16, 'x'));

  auto echo_call = [&](int i) {
    echo::EchoResponse response;
    grpc::ClientContext context;
    SetDeadline(&context);
    grpc::Status s = echoes[i]->Echo(&context, ping, &response);
    if (!s.ok()) Die("Echo", s);
  };
  auto lookup_call = [&](int i) {
    pb::LookupResponse response;
    grpc::ClientContext context;
    SetDeadline(&context);
    grpc::Status s = cache[i]->Lookup(&context, lookup, &response);
    if (!s.ok()) Die("Lookup", s);
  };
  auto stats_call = [&](int i) {
    pb::GetStatsResponse response;
    grpc::ClientContext context;
    SetDeadline(&context);
    grpc::Status s = cache[i]->GetStats(&context, pb::GetStatsRequest(), &response);
    if (!s.ok()) Die("GetStats", s);
  };
  // Two rounds, interleaved, so drift in the shared machine's load hits every method alike.
  double echo_rate = 0, lookup_rate = 0, stats_rate = 0;
  for (int round = 0; round < 2; ++round) {
    echo_rate += Rate(clients, seconds, echo_call) / 2;
    lookup_rate += Rate(clients, seconds, lookup_call) / 2;
    stats_rate += Rate(clients, seconds, stats_call) / 2;
  }
  nlohmann::json j;
  j["clients"] = clients;
  j["echo_per_s"] = echo_rate;
  j["lookup_per_s"] = lookup_rate;
  j["get_stats_per_s"] = stats_rate;
  j["lookup_ratio_to_echo"] = lookup_rate / echo_rate;
  j["get_stats_ratio_to_echo"] = stats_rate / echo_rate;
  j["target_ratio"] = 0.8;
  return j;
}

int Main() {
  KvCacheManagerOptions options;
  options.capacity_bytes = uint64_t{256} << 20;  // two sequences: the next write evicts
  options.max_sequence_tokens = kTokens;
  auto manager = KvCacheManager::Create(options);
  if (!manager.ok()) {
    std::fprintf(stderr, "cache_service_bench: %s\n", manager.status().ToString().c_str());
    return 1;
  }
  common::TokenAuth auth("");
  common::MetricsRegistry metrics;
  KvCacheServiceOptions service_options;
  service_options.manager = manager->get();
  service_options.auth = &auth;
  service_options.metrics = &metrics;
  KvCacheService service(service_options);
  EchoService echo_service;
  int cache_port = 0, echo_port = 0;
  std::unique_ptr<grpc::Server> cache_server = StartServer(&service, &cache_port);
  std::unique_ptr<grpc::Server> echo_server = StartServer(&echo_service, &echo_port);

  Throughput throughput(cache_port);
  std::unique_ptr<echo::Echo::Stub> echo_stub = echo::Echo::NewStub(NewChannel(echo_port));
  throughput.RunOnce(0);  // warm-up: connection, first-touch of the pool's blocks
  throughput.RunBare(echo_stub.get());
  throughput.ClearTimings();
  const int iterations = std::max(1, absl::GetFlag(FLAGS_iterations));
  for (int i = 1; i <= iterations; ++i) {
    throughput.RunOnce(i);
    throughput.RunBare(echo_stub.get());
  }

  nlohmann::json out;
  out["layout"] = "synthetic:bench (12 layers, 4 kv heads, head_dim 64, F32)";
  out["tokens"] = kTokens;
  out["bulk_args"] = absl::GetFlag(FLAGS_bulk_args);
  out["throughput"] = throughput.Report();
  out["small_rpc"] = SmallRpcRates(cache_port, echo_port, absl::GetFlag(FLAGS_clients),
                                   absl::GetFlag(FLAGS_seconds), /*cached_salt=*/iterations);
  out["passes_gb_per_s"] = throughput.Breakdown(**manager);  // evicts the Lookup's prefix
  std::printf("%s\n", out.dump(2).c_str());
  cache_server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  echo_server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  return 0;
}

}  // namespace
}  // namespace pdserve::cache_manager

int main(int argc, char** argv) {
  // As kv_cache_manager does at start (common::SetUpServerProcess, UseBulkTransferMalloc): the
  // in-process server and the bare-gRPC baselines (and the client, which shares the process)
  // run without Abseil's Mutex deadlock detection and keep freed gRPC buffers for reuse.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  pdserve::cache_manager::UseBulkTransferMalloc();
  absl::ParseCommandLine(argc, argv);
  return pdserve::cache_manager::Main();
}
