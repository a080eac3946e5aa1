// SIGTERM / SIGINT handling without signal handlers: the signals are blocked in every thread and read from a
// signalfd, so a signal can never interrupt a thread halfway through something, and waiting for it is an
// ordinary blocking call.
#pragma once

#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "absl/time/time.h"

namespace protectogram::kernel {

// Blocks SIGTERM and SIGINT in the calling thread. Call it first thing in main, before any thread is created:
// threads inherit the mask, and a thread that has the signals unblocked would be killed by one instead of it
// reaching ShutdownSignal. (ServiceHost::CreateOrExit calls it.)
void BlockShutdownSignals();

class ShutdownSignal {
 public:
  // Needs BlockShutdownSignals() to have run. Aborts if the file descriptors cannot be created.
  ShutdownSignal();
  ~ShutdownSignal();
  ShutdownSignal(const ShutdownSignal&) = delete;
  ShutdownSignal& operator=(const ShutdownSignal&) = delete;

  // Blocks until SIGTERM or SIGINT arrives, or Request() is called; returns "SIGTERM", "SIGINT" or the
  // request's reason. Each signal or request wakes one Wait; a request made before Wait is not lost.
  std::string Wait();
  // Like Wait, but gives up after `timeout` and returns nullopt.
  std::optional<std::string> WaitFor(absl::Duration timeout);
  // Wakes Wait from any thread (tests; a worker that hit a fatal error).
  void Request(const std::string& reason = "requested");

 private:
  int signal_fd_ = -1;
  int event_fd_ = -1;
  std::mutex mu_;
  std::deque<std::string> requests_;
};

}  // namespace protectogram::kernel
