// Builds serialized request messages for one call of a ghz config: looks the method up in the
// compiled-in descriptor pool, expands the call template, and converts JSON to protobuf.
#ifndef PDSERVE_TESTS_BENCH_PDBENCH_REQUEST_BUILDER_H_
#define PDSERVE_TESTS_BENCH_PDBENCH_REQUEST_BUILDER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/descriptor.h"
#include "tests/bench/pdbench/call_template.h"
#include "tests/bench/pdbench/ghz_config.h"

namespace pdserve::bench {

// Finds "pkg.Service.Method" (or "pkg.Service/Method") among pdserve's generated descriptors.
// NOT_FOUND names the call and lists nothing else.
absl::StatusOr<const google::protobuf::MethodDescriptor*> FindMethod(const std::string& call);

// gRPC's wire path of a method: "/pkg.Service/Method".
std::string MethodPath(const google::protobuf::MethodDescriptor& method);

// Converts serialized bytes of message type `type` to one line of JSON (proto field names).
absl::StatusOr<std::string> MessageBytesToJson(const google::protobuf::Descriptor& type,
                                               const std::string& bytes);

// Immutable after Create(); Build() and Metadata() are const and thread-safe.
class RequestBuilder {
 public:
  // INVALID_ARGUMENT if a data or metadata template cannot be parsed, or if data without
  // templates does not convert to the method's input type (the message names the field).
  static absl::StatusOr<RequestBuilder> Create(const GhzConfig& config,
                                               const google::protobuf::MethodDescriptor* method);

  // The serialized messages of call `request_number`: one for unary and server-streaming
  // methods (array data is used round robin, as ghz does), the whole array for client streaming.
  absl::StatusOr<std::vector<std::string>> Build(int64_t request_number,
                                                 const std::string& worker_id) const;

  // When no message has a template, the number of distinct requests P: Build(n) equals
  // Build(n % P), so a caller may encode P requests once and reuse them. 0 otherwise.
  int64_t FixedPeriod() const;

  // The call's metadata with templates expanded.
  std::vector<std::pair<std::string, std::string>> Metadata(int64_t request_number,
                                                            const std::string& worker_id) const;

  const google::protobuf::MethodDescriptor& method() const { return *method_; }

 private:
  struct Part {
    CallTemplate json;       // the message's JSON text as a template
    std::string serialized;  // set when precomputed
    bool precomputed = false;  // true when the template has no actions
  };

  TemplateContext Context(int64_t request_number, const std::string& worker_id) const;
  absl::StatusOr<std::string> Serialize(const Part& part, const TemplateContext& context) const;

  const google::protobuf::MethodDescriptor* method_ = nullptr;
  std::vector<Part> parts_;
  std::vector<std::pair<std::string, CallTemplate>> metadata_;
};

}  // namespace pdserve::bench

#endif  // PDSERVE_TESTS_BENCH_PDBENCH_REQUEST_BUILDER_H_
