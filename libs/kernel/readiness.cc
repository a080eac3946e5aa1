#include "libs/kernel/readiness.h"

#include <chrono>

#include "absl/time/clock.h"
#include "libs/kernel/log.h"

namespace protectogram::kernel {

Readiness::Readiness(Probe probe, absl::Duration interval) : probe_(std::move(probe)), interval_(interval) {}

Readiness::~Readiness() { Stop(); }

void Readiness::SetProbe(Probe probe, absl::Duration interval) {
  probe_ = std::move(probe);
  interval_ = interval;
}

void Readiness::Start() {
  RunProbe();
  if (probe_ == nullptr) return;  // nothing will change until shutdown
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Loop(); });
}

void Readiness::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void Readiness::MarkShuttingDown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutting_down_ = true;
  }
  Update(absl::FailedPreconditionError("shutting down"));
}

bool Readiness::ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ready_;
}

absl::Status Readiness::last_status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

int64_t Readiness::AddListener(Listener listener) {
  std::lock_guard<std::mutex> lock(listeners_mu_);
  int64_t id = next_listener_id_++;
  listeners_.emplace(id, std::move(listener));
  return id;
}

void Readiness::RemoveListener(int64_t id) {
  std::lock_guard<std::mutex> lock(listeners_mu_);
  listeners_.erase(id);
}

void Readiness::RunProbe() {
  absl::Status status = absl::OkStatus();
  if (probe_ != nullptr) {
    // A probe that throws is a broken probe, not a reason to take the process down.
    try {
      status = probe_();
    } catch (const std::exception& e) {
      status = absl::InternalError(std::string("readiness probe threw: ") + e.what());
    } catch (...) {
      status = absl::InternalError("readiness probe threw");
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutting_down_) return;
  }
  Update(std::move(status));
}

void Readiness::Update(absl::Status status) {
  bool ready = status.ok();
  bool changed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutting_down_ && ready) return;
    changed = !known_ || ready != ready_;
    known_ = true;
    ready_ = ready;
    status_ = status;
  }
  if (!changed) return;
  if (ready) {
    LogInfo("readiness changed", {{"ready", true}});
  } else {
    LogWarn("readiness changed", {{"ready", false}, {"reason", std::string(status.message())}});
  }
  // Report the verdict as it is now, not `ready`: a concurrent Update may have finished in between, and the
  // last call a listener sees must be the current state.
  std::lock_guard<std::mutex> lock(listeners_mu_);
  const bool now = this->ready();
  for (auto& [id, listener] : listeners_) listener(now);
}

void Readiness::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, absl::ToChronoMilliseconds(interval_), [this] { return stopping_; });
    if (stopping_ || shutting_down_) break;
    lock.unlock();
    RunProbe();
    lock.lock();
  }
}

}  // namespace protectogram::kernel
