// Runs one of the project's binaries as a real child process for end-to-end tests: its own environment,
// stdout+stderr captured to a file, signals, and a bounded wait for its exit.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace protectogram::testing {

class ChildProcess {
 public:
  // Starts `binary` with `args` and exactly `env` (plus PATH). Output goes to `log_path`.
  ChildProcess(std::string binary, std::vector<std::string> args, std::map<std::string, std::string> env,
               std::string log_path);
  ~ChildProcess();  // SIGKILLs the child if it still runs.
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool Signal(int signo);
  // Waits up to `timeout` for the child to exit; returns its exit code (128+signal when killed by one), or
  // nullopt on timeout.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  // Everything the child has written so far.
  std::string Output() const;
  // Waits until the output contains `needle`; false on timeout or if the child exited first.
  bool WaitForOutput(const std::string& needle, std::chrono::milliseconds timeout);
  // Resident set size in KiB from /proc (0 if the child is gone).
  long RssKib() const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  std::optional<int> exit_code_;
};

// A free TCP port on 127.0.0.1 (bound then released; good enough for tests).
int FreePort();
// Path of a binary in build/bin (from PROTECTOGRAM_BIN_DIR set by ctest).
std::string BinaryPath(const std::string& name);
// Blocking HTTP GET on 127.0.0.1:port; returns the status code (0 when unreachable) and fills `body`.
int HttpGet(int port, const std::string& path, std::string* body = nullptr);

}  // namespace protectogram::testing
