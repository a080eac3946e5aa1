// Readiness: whether this process can do its work now (e.g. Postgres answers), as one cached verdict that
// gRPC Health and GET /health/ready both report.
//
// A probe may block (a database ping with a timeout), so it never runs on a request path: Start() runs it
// once, then a background thread re-runs it every `interval`. Readers get the last verdict at once.
// Once MarkShuttingDown() is called the verdict is "not ready" for good, so load balancers drain the process.
// Changes are logged ("ready" / "not ready" with the probe's message) and reported to listeners.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace protectogram::kernel {

class Readiness {
 public:
  // OK when ready; any other status says why not (logged on change; never sent to clients).
  using Probe = std::function<absl::Status()>;
  using Listener = std::function<void(bool ready)>;

  // A null probe means "always ready" (until shutdown).
  explicit Readiness(Probe probe = nullptr, absl::Duration interval = absl::Seconds(1));
  ~Readiness();  // Stop()
  Readiness(const Readiness&) = delete;
  Readiness& operator=(const Readiness&) = delete;

  // Replaces the probe and interval. Before Start only.
  void SetProbe(Probe probe, absl::Duration interval = absl::Seconds(1));
  // Runs the probe once (so the first answer is real), then starts polling. Call once.
  void Start();
  // Stops polling (the verdict stays as it is). Safe to call more than once.
  void Stop();
  // From now on: not ready, whatever the probe says.
  void MarkShuttingDown();

  bool ready() const;
  // The probe's last result (FAILED_PRECONDITION "shutting down" after MarkShuttingDown).
  absl::Status last_status() const;

  // `listener` is called (on the polling thread, or the thread calling MarkShuttingDown) after every change,
  // never while another call of the same Readiness runs it. Returns an id for RemoveListener, which waits for
  // a running call to finish.
  int64_t AddListener(Listener listener);
  void RemoveListener(int64_t id);

  // For tests: runs the probe now, on this thread.
  void ProbeNowForTest() { RunProbe(); }

 private:
  void RunProbe();
  void Update(absl::Status status);
  void Loop();

  Probe probe_;
  absl::Duration interval_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool shutting_down_ = false;
  bool ready_ = false;
  bool known_ = false;
  absl::Status status_ = absl::UnavailableError("not probed yet");
  std::thread thread_;

  std::mutex listeners_mu_;  // held while listeners run, so RemoveListener can wait for them
  std::map<int64_t, Listener> listeners_;
  int64_t next_listener_id_ = 1;
};

}  // namespace protectogram::kernel
