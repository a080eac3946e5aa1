#include "libs/kernel/shutdown.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/time/clock.h"

namespace protectogram::kernel {
namespace {

sigset_t ShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "shutdown: %s: %s\n", what, std::strerror(errno));
  std::abort();
}

}  // namespace

void BlockShutdownSignals() {
  sigset_t set = ShutdownSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

ShutdownSignal::ShutdownSignal() {
  sigset_t set = ShutdownSignals();
  signal_fd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd_ < 0) Fatal("signalfd");
  event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE);
  if (event_fd_ < 0) Fatal("eventfd");
}

ShutdownSignal::~ShutdownSignal() {
  close(signal_fd_);
  close(event_fd_);
}

std::string ShutdownSignal::Wait() { return *WaitFor(absl::InfiniteDuration()); }

std::optional<std::string> ShutdownSignal::WaitFor(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int timeout_ms = -1;
    if (timeout != absl::InfiniteDuration()) {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return std::nullopt;
      timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))));
    }
    pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {event_fd_, POLLIN, 0}};
    int ready = poll(fds, 2, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      Fatal("poll");
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info;
      if (read(signal_fd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
        return info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM";
      }
    }
    if (fds[1].revents & POLLIN) {
      uint64_t one = 0;
      // Another Wait may have taken this request first: then wait on.
      if (read(event_fd_, &one, sizeof(one)) == static_cast<ssize_t>(sizeof(one))) {
        std::lock_guard<std::mutex> lock(mu_);
        std::string reason = requests_.empty() ? "requested" : requests_.front();
        if (!requests_.empty()) requests_.pop_front();
        return reason;
      }
    }
  }
}

void ShutdownSignal::Request(const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(reason);
  }
  uint64_t one = 1;
  if (write(event_fd_, &one, sizeof(one)) < 0) Fatal("eventfd write");
}

}  // namespace protectogram::kernel
