// Runs one of the project's binaries as a real child process for process-level tests: its own environment,
// stdout and stderr captured to temporary files, signals, and bounded waits. Shared by every test tier.
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
  // Starts `binary` with `args` and exactly `env` (plus PATH).
  ChildProcess(const std::string& binary, const std::vector<std::string>& args,
               std::map<std::string, std::string> env);
  ~ChildProcess();  // SIGKILLs the child if it still runs, and removes the output files.
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool Signal(int signo);
  // Waits up to `timeout` for the child to exit; returns its exit code (128+signal when killed by one), or
  // nullopt on timeout.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  std::string Stdout() const;
  std::string Stderr() const;
  // Everything the child has written so far: stdout, then stderr.
  std::string Output() const { return Stdout() + Stderr(); }
  // Waits until stdout or stderr contains `needle`; false on timeout or if the child exited without it.
  bool WaitForOutput(const std::string& needle, std::chrono::milliseconds timeout);
  // Waits until a line of stdout contains `needle` and returns that line ("" on timeout or exit without it).
  std::string WaitForLine(const std::string& needle, std::chrono::milliseconds timeout);
  // Resident set size in KiB from /proc (0 if the child is gone).
  long RssKib() const;
  // CPU time the child has used, user + system, in seconds (ProcessCpuSeconds).
  double CpuSeconds() const;

 private:
  pid_t pid_ = -1;
  std::string out_path_;
  std::string err_path_;
  std::optional<int> exit_code_;
};

// CPU time a process has used, user + system (utime + stime of /proc/<pid>/stat), in seconds; 0 if it is
// gone. Resolution: one clock tick (10 ms), so measure many requests, not one.
double ProcessCpuSeconds(pid_t pid);

// A free TCP port on 127.0.0.1 (bound then released; good enough for tests).
int FreePort();
// Path of a binary in build/bin (from PROTECTOGRAM_BIN_DIR set by ctest).
std::string BinaryPath(const std::string& name);
// Blocking HTTP GET on 127.0.0.1:port; returns the status code (0 when unreachable) and fills `body`.
int HttpGet(int port, const std::string& path, std::string* body = nullptr);

}  // namespace protectogram::testing
