// The outcome of one load-test call, and the names ghz gives to gRPC status codes.
#ifndef PDSERVE_TESTS_BENCH_PDBENCH_CALL_RESULT_H_
#define PDSERVE_TESTS_BENCH_PDBENCH_CALL_RESULT_H_

#include <cstdint>
#include <string>

namespace pdserve::bench {

struct CallResult {
  int64_t latency_ns = 0;         // call start to final status
  int code = 0;                   // a grpc::StatusCode value; 0 = OK
  std::string message;            // status message (empty when OK)
  int64_t first_message_ns = -1;  // call start to first response message; -1 if none arrived
  int64_t messages = 0;           // response messages received
};

// Go's codes.Code.String() for `code` ("OK", "NotFound", "ResourceExhausted", ...), which is
// what ghz writes in statusCodeDistribution; "Code(N)" for unknown values.
std::string StatusCodeName(int code);

// ghz's errorDistribution key: "rpc error: code = <Name> desc = <message>". Empty for OK.
std::string GhzErrorString(int code, const std::string& message);

}  // namespace pdserve::bench

#endif  // PDSERVE_TESTS_BENCH_PDBENCH_CALL_RESULT_H_
