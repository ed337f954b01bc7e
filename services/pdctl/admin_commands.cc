// Health probes and cache statistics, blocking calls with deadlines.
#include "services/pdctl/admin_commands.h"

#include <thread>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "pdserve/kvcache/v1/kvcache.grpc.pb.h"
#include "services/common/auth.h"
#include "services/common/grpc_status.h"

namespace pdserve::pdctl {
namespace {

absl::StatusOr<std::string> CheckOnce(grpc::health::v1::Health::Stub* stub,
                                      const AdminOptions& options, const std::string& service) {
  grpc::ClientContext context;
  common::PrepareContext(&context, options.timeout, common::TokenAuth(options.auth_token));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) return std::string("SERVICE_UNKNOWN");
  if (!status.ok()) {
    return common::Annotate(common::FromGrpcStatus(status), absl::StrCat("health ", options.target));
  }
  switch (response.status()) {
    case grpc::health::v1::HealthCheckResponse::SERVING:
      return std::string("SERVING");
    case grpc::health::v1::HealthCheckResponse::NOT_SERVING:
      return std::string("NOT_SERVING");
    case grpc::health::v1::HealthCheckResponse::SERVICE_UNKNOWN:
      return std::string("SERVICE_UNKNOWN");
    default:
      return std::string("UNKNOWN");
  }
}

}  // namespace

absl::StatusOr<std::string> CheckHealth(const AdminOptions& options, const std::string& service,
                                        absl::Duration wait) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      common::MakeChannel(options.target, options.channel);
  if (!channel.ok()) return channel.status();
  auto stub = grpc::health::v1::Health::NewStub(*channel);
  const absl::Time give_up = absl::Now() + wait;
  while (true) {
    absl::StatusOr<std::string> answer = CheckOnce(stub.get(), options, service);
    if ((answer.ok() && *answer == "SERVING") || absl::Now() >= give_up) return answer;
    // A CLI poll: nothing to wake us earlier than the next probe.
    absl::SleepFor(absl::Milliseconds(100));
  }
}

absl::StatusOr<std::string> CacheStats(const AdminOptions& options, bool json) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      common::MakeChannel(options.target, options.channel);
  if (!channel.ok()) return channel.status();
  auto stub = kvcache::v1::KvCache::NewStub(*channel);
  grpc::ClientContext context;
  common::PrepareContext(&context, options.timeout, common::TokenAuth(options.auth_token));
  kvcache::v1::GetStatsResponse stats;
  const grpc::Status status = stub->GetStats(&context, kvcache::v1::GetStatsRequest(), &stats);
  if (!status.ok()) {
    return common::Annotate(common::FromGrpcStatus(status), absl::StrCat("cache ", options.target));
  }
  if (json) {
    google::protobuf::util::JsonPrintOptions print;
    print.always_print_primitive_fields = true;
    print.preserve_proto_field_names = true;
    std::string out;
    if (!google::protobuf::util::MessageToJsonString(stats, &out, print).ok()) {
      return absl::InternalError("GetStats: could not render JSON");
    }
    return out + "\n";
  }
  std::string out;
  const google::protobuf::Descriptor* descriptor = stats.GetDescriptor();
  const google::protobuf::Reflection* reflection = stats.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = descriptor->field(i);
    std::string value;
    switch (field->cpp_type()) {
      case google::protobuf::FieldDescriptor::CPPTYPE_UINT64:
        value = absl::StrCat(reflection->GetUInt64(stats, field));
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_UINT32:
        value = absl::StrCat(reflection->GetUInt32(stats, field));
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_DOUBLE:
        value = absl::StrCat(reflection->GetDouble(stats, field));
        break;
      default:
        continue;
    }
    absl::StrAppend(&out, field->name(), ": ", value, "\n");
  }
  return out;
}

}  // namespace pdserve::pdctl
