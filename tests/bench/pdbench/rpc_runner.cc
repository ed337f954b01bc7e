// Load driver for `pdbench rpc` (see rpc_runner.h). Each driver owns a completion queue, a
// thread polling it, and a fixed set of call slots; a slot runs one call at a time as a small
// state machine, so `concurrency` calls are in flight without a thread per call. Every event of
// every call (unary, streaming, rps alarm) arrives on the slot's driver queue, so the thread
// that reads the response from the socket also records the call and starts the next one. With
// the callback API, unary completions ran on gRPC's own threads: a thread hand-off and about
// five futex calls per call (measured on 2 cores at one GetStats call in flight: ~120 us of
// client CPU per call, against ~90 us on the driver's queue).
#include "tests/bench/pdbench/rpc_runner.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "grpcpp/alarm.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "tests/bench/pdbench/request_builder.h"
#include "decoder/status_macros.h"

namespace pdserve::bench {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NanosSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

std::vector<grpc::ByteBuffer> ToByteBuffers(const std::vector<std::string>& messages) {
  std::vector<grpc::ByteBuffer> out;
  out.reserve(messages.size());
  for (const std::string& m : messages) {
    grpc::Slice s(m);
    out.emplace_back(&s, 1);
  }
  return out;
}

// State shared by every driver thread of one run.
class SharedLoad {
 public:
  // `fixed_requests`: the encoded requests of calls 0..P-1 when the data has no template
  // (RequestBuilder::FixedPeriod() == P), else empty.
  SharedLoad(const RpcRunOptions& options, const RequestBuilder& builder,
             std::vector<std::vector<grpc::ByteBuffer>> fixed_requests, std::ofstream* responses)
      : options_(options),
        builder_(builder),
        method_path_(MethodPath(builder.method())),
        unary_(!builder.method().client_streaming() && !builder.method().server_streaming()),
        fixed_requests_(std::move(fixed_requests)),
        total_(options.config.duration > absl::ZeroDuration()
                   ? std::numeric_limits<uint64_t>::max()
                   : options.config.total),
        writes_responses_(responses != nullptr),
        responses_(responses) {}

  void Start() {
    start_ = absl::Now();
    stop_issuing_ = options_.config.duration > absl::ZeroDuration()
                        ? start_ + options_.config.duration
                        : absl::InfiniteFuture();
  }

  // Claims the next request number; false when the run must issue no more calls.
  bool Claim(uint64_t* request_number) {
    if (stop_.load(std::memory_order_relaxed)) return false;
    if (stop_issuing_ != absl::InfiniteFuture() && absl::Now() >= stop_issuing_) {
      stopped_by_duration_.store(true);
      return false;
    }
    const uint64_t n = next_.fetch_add(1, std::memory_order_relaxed);
    if (n >= total_) return false;
    *request_number = n;
    return true;
  }

  bool rate_limited() const { return options_.config.rps != 0; }

  // When call `n` may start under the config's rps limit. REQUIRES: rate_limited().
  absl::Time ScheduledStart(uint64_t n) const {
    return start_ + absl::Seconds(static_cast<double>(n) / options_.config.rps);
  }

  // The encoded messages of call `n` if they are the same for every run of the data (no
  // template), else nullptr. The buffers are shared read-only by every driver: gRPC takes a
  // reference to their slices when a call sends them.
  const std::vector<grpc::ByteBuffer>* FixedRequests(uint64_t n) const {
    if (fixed_requests_.empty()) return nullptr;
    return &fixed_requests_[n % fixed_requests_.size()];
  }

  void Abort(absl::Status status) {
    absl::MutexLock lock(&mu_);
    if (abort_status_.ok()) abort_status_ = std::move(status);
    stop_.store(true);
  }

  absl::Status abort_status() {
    absl::MutexLock lock(&mu_);
    return abort_status_;
  }

  bool writes_responses() const { return writes_responses_; }

  void WriteResponse(const std::string& bytes) {
    absl::StatusOr<std::string> json =
        MessageBytesToJson(*builder_.method().output_type(), bytes);
    absl::MutexLock lock(&mu_);
    *responses_ << (json.ok() ? *json : absl::StrCat("{\"error\":\"", json.status().message(),
                                                      "\"}"))
                << "\n";
  }

  const RpcRunOptions& options() const { return options_; }
  const RequestBuilder& builder() const { return builder_; }
  const std::string& method_path() const { return method_path_; }
  bool unary() const { return unary_; }
  absl::Time start() const { return start_; }
  bool stopped_by_duration() const { return stopped_by_duration_.load(); }

  std::atomic<uint64_t> done{0};
  std::atomic<uint64_t> failed{0};

 private:
  // Constant after construction (start_ and stop_issuing_ after Start(), before any thread).
  const RpcRunOptions& options_;
  const RequestBuilder& builder_;
  const std::string method_path_;
  const bool unary_;
  const std::vector<std::vector<grpc::ByteBuffer>> fixed_requests_;
  const uint64_t total_;
  const bool writes_responses_;
  absl::Time start_;
  absl::Time stop_issuing_;

  std::atomic<uint64_t> next_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> stopped_by_duration_{false};

  absl::Mutex mu_;
  absl::Status abort_status_ ABSL_GUARDED_BY(mu_);
  std::ofstream* responses_ ABSL_GUARDED_BY(mu_);
};

// One completion queue, the thread polling it (Run()) and its call slots. Not thread-safe: the
// slots and results are touched only by Run()'s thread; TakeResults() after Run() returned.
class Driver {
 public:
  explicit Driver(SharedLoad* shared) : shared_(shared) {}

  void AddSlot(grpc::GenericStub* stub, std::string worker_id) {
    auto slot = std::make_unique<Slot>();
    slot->stub = stub;
    slot->worker_id = std::move(worker_id);
    slots_.push_back(std::move(slot));
  }

  // REQUIRES: `expected_calls` is a capacity hint for the results (0 if unknown).
  void Run(uint64_t expected_calls) {
    results_.reserve(expected_calls);
    active_ = slots_.size();
    for (auto& slot : slots_) StartNext(slot.get());
    void* tag = nullptr;
    bool ok = false;
    while (active_ > 0 && cq_.Next(&tag, &ok)) OnEvent(static_cast<Slot*>(tag), ok);
    cq_.Shutdown();
    while (cq_.Next(&tag, &ok)) {
    }
  }

  std::vector<CallResult> TakeResults() { return std::move(results_); }

 private:
  enum class State { kIdle, kAlarm, kUnaryFinish, kStart, kWrite, kRead, kFinish };

  struct Slot {
    grpc::GenericStub* stub = nullptr;
    std::string worker_id;
    State state = State::kIdle;
    uint64_t request_number = 0;
    std::optional<grpc::ClientContext> context;  // one per call: gRPC forbids reuse
    // Both live in the call's arena: reset before `context`, which owns the call.
    std::unique_ptr<grpc::GenericClientAsyncResponseReader> unary;
    std::unique_ptr<grpc::GenericClientAsyncReaderWriter> stream;
    const std::vector<grpc::ByteBuffer>* requests = nullptr;  // shared, or &own_requests
    std::vector<grpc::ByteBuffer> own_requests;                // templated data only
    size_t next_write = 0;
    grpc::ByteBuffer response;
    grpc::Status status;
    Clock::time_point started;
    int64_t first_message_ns = -1;
    int64_t messages = 0;
    grpc::Alarm alarm;
  };

  // A slot with nothing more to do; Run() returns when every slot has retired.
  void Retire(Slot* slot) {
    slot->state = State::kIdle;
    --active_;
  }

  void StartNext(Slot* slot) {
    uint64_t n = 0;
    if (!shared_->Claim(&n)) {
      Retire(slot);
      return;
    }
    slot->request_number = n;
    if (shared_->rate_limited()) {
      const absl::Time at = shared_->ScheduledStart(n);
      if (at > absl::Now()) {
        slot->state = State::kAlarm;
        slot->alarm.Set(&cq_, absl::ToChronoTime(at), slot);
        return;
      }
    }
    Launch(slot);
  }

  void Launch(Slot* slot) {
    const RequestBuilder& builder = shared_->builder();
    slot->requests = shared_->FixedRequests(slot->request_number);
    if (slot->requests == nullptr) {
      absl::StatusOr<std::vector<std::string>> messages =
          builder.Build(slot->request_number, slot->worker_id);
      if (!messages.ok()) {
        shared_->Abort(messages.status());
        Retire(slot);
        return;
      }
      slot->own_requests = ToByteBuffers(*messages);
      slot->requests = &slot->own_requests;
    }
    slot->context.emplace();
    const absl::Duration timeout = shared_->options().config.timeout;
    if (timeout > absl::ZeroDuration()) {
      slot->context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    }
    for (const auto& [k, v] : builder.Metadata(slot->request_number, slot->worker_id)) {
      slot->context->AddMetadata(k, v);
    }
    slot->response.Clear();
    slot->status = grpc::Status();
    slot->first_message_ns = -1;
    slot->messages = 0;
    slot->next_write = 0;
    slot->started = Clock::now();
    if (shared_->unary()) {
      slot->state = State::kUnaryFinish;
      slot->unary = slot->stub->PrepareUnaryCall(&*slot->context, shared_->method_path(),
                                                 (*slot->requests)[0], &cq_);
      slot->unary->StartCall();
      slot->unary->Finish(&slot->response, &slot->status, slot);
      return;
    }
    slot->stream = slot->stub->PrepareCall(&*slot->context, shared_->method_path(), &cq_);
    slot->state = State::kStart;
    slot->stream->StartCall(slot);
  }

  void WriteNext(Slot* slot) {
    slot->state = State::kWrite;
    const size_t i = slot->next_write++;
    if (i + 1 == slot->requests->size()) {
      slot->stream->WriteLast((*slot->requests)[i], grpc::WriteOptions(), slot);
    } else {
      slot->stream->Write((*slot->requests)[i], slot);
    }
  }

  void Finish(Slot* slot) {
    slot->state = State::kFinish;
    slot->stream->Finish(&slot->status, slot);
  }

  void OnEvent(Slot* slot, bool ok) {
    switch (slot->state) {
      case State::kAlarm:
        Launch(slot);
        return;
      case State::kUnaryFinish:
        if (slot->status.ok()) {
          slot->messages = 1;
          slot->first_message_ns = NanosSince(slot->started);
          if (shared_->writes_responses()) shared_->WriteResponse(Flatten(slot->response));
        }
        Record(slot);
        return;
      case State::kStart:
      case State::kWrite:
        if (!ok) return Finish(slot);
        if (slot->next_write < slot->requests->size()) return WriteNext(slot);
        slot->state = State::kRead;
        slot->stream->Read(&slot->response, slot);
        return;
      case State::kRead:
        if (!ok) return Finish(slot);
        if (slot->messages++ == 0) slot->first_message_ns = NanosSince(slot->started);
        if (shared_->writes_responses()) shared_->WriteResponse(Flatten(slot->response));
        slot->stream->Read(&slot->response, slot);
        return;
      case State::kFinish:
        Record(slot);
        return;
      case State::kIdle:
        return;
    }
  }

  void Record(Slot* slot) {
    CallResult& r = results_.emplace_back();
    r.latency_ns = NanosSince(slot->started);
    r.code = slot->status.error_code();
    r.message = slot->status.error_message();
    r.first_message_ns = slot->first_message_ns;
    r.messages = slot->messages;
    shared_->done.fetch_add(1, std::memory_order_relaxed);
    if (!slot->status.ok()) shared_->failed.fetch_add(1, std::memory_order_relaxed);
    slot->unary.reset();
    slot->stream.reset();
    slot->context.reset();
    StartNext(slot);
  }

  static std::string Flatten(const grpc::ByteBuffer& buffer) {
    std::vector<grpc::Slice> slices;
    std::string out;
    if (!buffer.Dump(&slices).ok()) return out;
    for (const grpc::Slice& s : slices) {
      out.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    return out;
  }

  SharedLoad* const shared_;
  grpc::CompletionQueue cq_;
  std::vector<std::unique_ptr<Slot>> slots_;  // fixed before Run()
  size_t active_ = 0;                         // slots not yet retired
  std::vector<CallResult> results_;
};

// CPUs this process may run on (its affinity mask), at least 1.
int UsableCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

// Channel arguments of connection `index` (0-based).
grpc::ChannelArguments ConnectionArguments(uint64_t index) {
  grpc::ChannelArguments args;
  // Distinct arguments and a local subchannel pool keep connections from sharing one TCP
  // connection.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("pdbench.connection", static_cast<int>(index));
  args.SetMaxReceiveMessageSize(-1);
  // The minimal stack leaves out per-call filters a load generator has no use for (channel
  // idleness, message size limits, which are off here anyway). It would also leave out
  // client-side deadline checks and response decompression: both are turned back on, so
  // timeouts and compressed responses behave as with the full stack.
  args.SetInt(GRPC_ARG_MINIMAL_STACK, 1);
  args.SetInt(GRPC_ARG_ENABLE_DEADLINE_CHECKS, 1);
  args.SetInt(GRPC_ARG_ENABLE_PER_MESSAGE_DECOMPRESSION, 1);
  // No retry filter: each call is exactly one attempt, so its status is the server's answer to
  // that attempt (a stream the server refuses counts as UNAVAILABLE rather than being replayed
  // unseen), and the filter's per-call copy of the request goes away.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  return args;
}

}  // namespace

absl::StatusOr<RpcRunResult> RunRpcLoad(const RpcRunOptions& options) {
  const GhzConfig& config = options.config;
  PDSERVE_ASSIGN_OR_RETURN(const google::protobuf::MethodDescriptor* method,
                           FindMethod(config.call));
  PDSERVE_ASSIGN_OR_RETURN(RequestBuilder builder, RequestBuilder::Create(config, method));
  std::ofstream responses;
  if (!options.responses_path.empty()) {
    responses.open(options.responses_path);
    if (!responses) {
      return absl::InvalidArgumentError(
          absl::StrCat("--responses: cannot open '", options.responses_path, "'"));
    }
  }

  // One channel per connection.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  for (uint64_t i = 0; i < config.connections; ++i) {
    const grpc::ChannelArguments args = ConnectionArguments(i);
    auto creds = config.insecure ? grpc::InsecureChannelCredentials()
                                 : grpc::SslCredentials(grpc::SslCredentialsOptions());
    channels.push_back(grpc::CreateCustomChannel(options.target, creds, args));
    if (!channels.back()->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10)))) {
      return absl::UnavailableError(
          absl::StrCat("cannot connect to ", options.target, " within 10 s"));
    }
    stubs.push_back(std::make_unique<grpc::GenericStub>(channels.back()));
  }

  std::vector<std::vector<grpc::ByteBuffer>> fixed_requests;
  for (int64_t n = 0; n < builder.FixedPeriod(); ++n) {
    PDSERVE_ASSIGN_OR_RETURN(std::vector<std::string> messages, builder.Build(n, ""));
    fixed_requests.push_back(ToByteBuffers(messages));
  }
  SharedLoad shared(options, builder, std::move(fixed_requests),
                    responses.is_open() ? &responses : nullptr);
  // One thread per core it may run on by default (its CPU affinity, e.g. under taskset): with
  // one, the 4 x 16 GetStats cross-check ran at ~0.39 of h2load's rate on 2 shared cores
  // (unpinned), with two at ~0.54 (the client's CPU per call is unchanged).
  const int wanted = options.threads > 0 ? options.threads : UsableCores();
  const int threads = std::max<int>(1, std::min<uint64_t>(wanted, config.concurrency));
  std::vector<std::unique_ptr<Driver>> drivers;
  for (int t = 0; t < threads; ++t) drivers.push_back(std::make_unique<Driver>(&shared));
  for (uint64_t c = 0; c < config.concurrency; ++c) {
    const uint64_t conn = c % stubs.size();
    drivers[c % threads]->AddSlot(stubs[conn].get(), absl::StrCat("g", conn, "c", c));
  }

  shared.Start();
  std::vector<std::thread> workers;
  // Capacity hint for each driver's results; growth past it is fine.
  const uint64_t expected_calls =
      config.duration > absl::ZeroDuration() ? 0
                                             : std::min<uint64_t>(config.total / threads + 1, 1 << 20);
  for (auto& d : drivers) workers.emplace_back([&d, expected_calls] { d->Run(expected_calls); });
  absl::Notification all_done;
  std::thread joiner([&workers, &all_done] {
    for (std::thread& w : workers) w.join();
    all_done.Notify();
  });
  while (!all_done.WaitForNotificationWithTimeout(absl::Milliseconds(200))) {
    if (options.progress) options.progress(shared.done.load(), shared.failed.load());
  }
  joiner.join();

  RpcRunResult result;
  result.total_ns = absl::ToInt64Nanoseconds(absl::Now() - shared.start());
  result.server_streaming = method->server_streaming();
  result.stopped_by_duration = shared.stopped_by_duration();
  PDSERVE_RETURN_IF_ERROR(shared.abort_status());
  for (auto& d : drivers) {
    for (CallResult& r : d->TakeResults()) result.calls.push_back(std::move(r));
  }
  if (options.progress) options.progress(shared.done.load(), shared.failed.load());
  return result;
}

}  // namespace pdserve::bench
