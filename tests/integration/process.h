// Starts a real pdserve binary as a child process for integration tests: learns its port from
// the "listening on HOST:PORT" line, signals it, and reaps it with a deadline.
#ifndef PDSERVE_TESTS_INTEGRATION_PROCESS_H_
#define PDSERVE_TESTS_INTEGRATION_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace pdserve::testing {

// Not thread-safe. The destructor kills (SIGKILL) a child that is still running and removes
// the file that captured its stdout.
class Process {
 public:
  // Runs `binary` (a path) with `args`; its stdout goes to a file under TempRoot() read by this
  // object, stderr is inherited (so a failing test's output shows the server's log).
  // Waits up to `timeout` for a line containing "listening on HOST:PORT".
  static absl::StatusOr<std::unique_ptr<Process>> StartServer(
      const std::string& binary, const std::vector<std::string>& args,
      absl::Duration timeout = absl::Seconds(60));
  // Runs a command to completion and returns its stdout; error when it exits non-zero.
  static absl::StatusOr<std::string> Run(const std::string& binary,
                                         const std::vector<std::string>& args,
                                         absl::Duration timeout = absl::Seconds(120),
                                         int* exit_code = nullptr);
  ~Process();

  // Waits up to `timeout` for a stdout line containing "<marker>HOST:PORT" (e.g. marker
  // "metrics on ") and returns PORT.
  absl::StatusOr<int> WaitForPort(const std::string& marker,
                                  absl::Duration timeout = absl::Seconds(30));

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }

  void Signal(int sig);
  // Waits for exit; returns the exit code (128 + signal when killed). DEADLINE_EXCEEDED if it
  // is still running after `timeout`.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  bool running();

 private:
  Process() = default;

  pid_t pid_ = -1;
  std::string stdout_path_;
  int port_ = 0;
  bool reaped_ = false;
  int exit_code_ = 0;
};

// The directory holding the built binaries (this test binary's build tree root).
std::string BinaryDir();
// Absolute path of a pdserve binary by target name, e.g. "kv_cache_manager".
std::string BinaryPath(const std::string& name);

// Where tests put their temporary files: $TMPDIR, or /tmp when it is unset or empty.
// tests/run.sh points TMPDIR at a directory of its own and removes it when it exits, so files a
// crashed test leaves behind do not pile up.
std::string TempRoot();

}  // namespace pdserve::testing

#endif  // PDSERVE_TESTS_INTEGRATION_PROCESS_H_
