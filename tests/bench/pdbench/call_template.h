// ghz-style call templates: `{{.RequestNumber}}` and friends inside request data and metadata.
#ifndef PDSERVE_TESTS_BENCH_PDBENCH_CALL_TEMPLATE_H_
#define PDSERVE_TESTS_BENCH_PDBENCH_CALL_TEMPLATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace pdserve::bench {

// Values one call's template sees (ghz's callTemplateData).
struct TemplateContext {
  int64_t request_number = 0;  // 0-based, unique per call
  std::string worker_id;
  std::string fully_qualified_name;  // "pdserve.kvcache.v1.KvCache.Lookup"
  std::string method_name;           // "Lookup"
  std::string service_name;          // "KvCache"
  std::string input_name;            // "LookupRequest"
  std::string output_name;
  absl::Time now = absl::UnixEpoch();
};

// A parsed template. Supports the ghz actions {{.RequestNumber}}, {{.WorkerID}},
// {{.FullyQualifiedName}}, {{.MethodName}}, {{.ServiceName}}, {{.InputName}}, {{.OutputName}},
// {{.Timestamp}} (RFC 3339), {{.TimestampUnix}}, {{.TimestampUnixMilli}},
// {{.TimestampUnixNano}}, {{.UUID}}, {{newUUID}} and {{randomString N}}. Text outside actions
// is copied verbatim. Thread-safe: Expand() is const and keeps no shared state.
class CallTemplate {
 public:
  // INVALID_ARGUMENT for an unterminated "{{" or an unsupported action (the message names it).
  static absl::StatusOr<CallTemplate> Parse(const std::string& text);

  // True if the text has at least one action (otherwise Expand() returns the text).
  bool has_actions() const { return has_actions_; }

  std::string Expand(const TemplateContext& context) const;

 private:
  enum class Kind {
    kText, kRequestNumber, kWorkerId, kFullyQualifiedName, kMethodName, kServiceName,
    kInputName, kOutputName, kTimestamp, kTimestampUnix, kTimestampUnixMilli,
    kTimestampUnixNano, kUuid, kRandomString
  };
  struct Segment {
    Kind kind = Kind::kText;
    std::string text;  // kText only
    int length = 0;    // kRandomString only
  };

  std::vector<Segment> segments_;
  bool has_actions_ = false;
};

}  // namespace pdserve::bench

#endif  // PDSERVE_TESTS_BENCH_PDBENCH_CALL_TEMPLATE_H_
