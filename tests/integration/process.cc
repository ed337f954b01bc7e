// Child processes for integration tests.
#include "tests/integration/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pdserve::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Forks and execs with stdout redirected to `stdout_path`.
absl::StatusOr<pid_t> Spawn(const std::string& binary, const std::vector<std::string>& args,
                            const std::string& stdout_path) {
  std::vector<std::string> argv_storage;
  argv_storage.push_back(binary);
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    int fd = open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) dup2(fd, 1);
    // Children must not inherit a blocked signal mask from the test.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

std::string TempPath(const std::string& stem) {
  std::string path = absl::StrCat(TempRoot(), "/pdserve_", stem, "_XXXXXX");
  int fd = mkstemp(path.data());
  if (fd >= 0) close(fd);
  return path;
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::string BinaryDir() { return PDSERVE_BIN_DIR; }
std::string BinaryPath(const std::string& name) { return absl::StrCat(BinaryDir(), "/", name); }

std::string TempRoot() {
  const char* dir = std::getenv("TMPDIR");
  return dir != nullptr && dir[0] != '\0' ? dir : "/tmp";
}

absl::StatusOr<std::unique_ptr<Process>> Process::StartServer(
    const std::string& binary, const std::vector<std::string>& args, absl::Duration timeout) {
  std::string out_path = TempPath("stdout");
  auto pid = Spawn(binary, args, out_path);
  if (!pid.ok()) {
    unlink(out_path.c_str());
    return pid.status();
  }
  std::unique_ptr<Process> process(new Process());
  process->pid_ = *pid;
  process->stdout_path_ = out_path;
  absl::StatusOr<int> port = process->WaitForPort("listening on ", timeout);
  if (!port.ok()) {
    return absl::Status(port.status().code(), absl::StrCat(binary, " ", absl::StrJoin(args, " "),
                                                           ": ", port.status().message()));
  }
  process->port_ = *port;
  return process;
}

absl::StatusOr<int> Process::WaitForPort(const std::string& marker, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::string out = ReadFile(stdout_path_);
    size_t at = out.find(marker);
    size_t eol = at == std::string::npos ? std::string::npos : out.find('\n', at);
    if (eol != std::string::npos) {
      std::string addr = out.substr(at + marker.size(), eol - at - marker.size());
      int port = 0;
      if (!absl::SimpleAtoi(addr.substr(addr.rfind(':') + 1), &port)) {
        return absl::InternalError(absl::StrCat("bad '", marker, "' line: ", addr));
      }
      return port;
    }
    if (!running()) {
      return absl::InternalError(absl::StrCat("exited with ", exit_code_, " before printing '",
                                              marker, "'; stdout: ", out));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("did not print '", marker, "HOST:PORT'"));
}

absl::StatusOr<std::string> Process::Run(const std::string& binary,
                                         const std::vector<std::string>& args,
                                         absl::Duration timeout, int* exit_code) {
  std::string out_path = TempPath("run");
  auto pid = Spawn(binary, args, out_path);
  if (!pid.ok()) {
    unlink(out_path.c_str());
    return pid.status();
  }
  Process process;
  process.pid_ = *pid;
  auto code = process.Wait(timeout);
  std::string out = ReadFile(out_path);
  unlink(out_path.c_str());
  if (!code.ok()) return code.status();
  if (exit_code != nullptr) {
    *exit_code = *code;
  } else if (*code != 0) {
    return absl::InternalError(absl::StrCat(binary, " ", absl::StrJoin(args, " "), " exited ",
                                            *code, "; stdout: ", out));
  }
  return out;
}

Process::~Process() {
  if (!reaped_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  // Every failure that needs the captured stdout has already copied it into its status.
  if (!stdout_path_.empty()) unlink(stdout_path_.c_str());
}

void Process::Signal(int sig) {
  if (!reaped_ && pid_ > 0) kill(pid_, sig);
}

bool Process::running() {
  if (reaped_) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    exit_code_ = DecodeWaitStatus(status);
    return false;
  }
  return true;
}

absl::StatusOr<int> Process::Wait(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (running()) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("pid ", pid_, " still running"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_code_;
}

}  // namespace pdserve::testing
